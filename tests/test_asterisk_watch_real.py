"""asterisk-watch reporting to a real Nagios 4 (external command file, status.dat read back)
and a real Icinga 2 (REST API, the result read back through /v1/objects/services).

Both daemons run privately from a temporary directory, as the current user; nothing touches
a system instance. Skipped without nagios4/icinga2, failed with ISP_PLUGINS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.request

import pytest

from tests.conftest import SECRET
from tests.nagios_helpers import (
    CONFIG,
    ICINGA2,
    NAGIOS_EXAMPLES,
    icinga2_constants,
    icinga2_daemon,
    icinga2_objects,
    icinga2_validate,
    parse_nagios_objects,
    require,
    stop,
    wait_until,
)
from tests.services import services
from tests.watch_helpers import Daemon, Nagios, watch_config

SPAN3_ALARM = {"Event": "SpanAlarm", "Span": "3", "Alarm": "Red Alarm"}
pytestmark = services

WARNING_LINE = "ASTERISK_PRI WARNING - 3 of 4 spans up - in alarm: 3"
WARNING_PERFDATA = "spans_alarm=1;;;0;4 spans_down=1;;;0;4 spans_up=3;4:;2:;0;4"


def test_a_span_alarm_reaches_nagios_status_dat_in_seconds(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up")
    nagios = Nagios(require("nagios4"), tmp_path, ["PRI spans"])
    try:
        config = watch_config(
            tmp_path,
            sim.port,
            {"PRI spans": "check_asterisk_pri -n 4 -c 1"},
            SECRET,
            # Only the event can explain a change within seconds (the latency goal is
            # benchmarks/bench_watch.py's).
            {"nagios_command_file": str(nagios.command_file), "interval": "600"},
        )
        with Daemon(config) as daemon:
            assert wait_until(
                lambda: (
                    nagios.service("PRI spans").get("current_state") == "0"
                    and nagios.service("PRI spans").get("has_been_checked") == "1"
                ),
                15,
                0.1,
            ), daemon.log
            ok = nagios.service("PRI spans")
            sim.set_scenario("pri_span3_alarm", SPAN3_ALARM)
            assert wait_until(
                lambda: nagios.service("PRI spans").get("current_state") == "1", 10, 0.05
            ), daemon.log
            log = daemon.log
        result = nagios.service("PRI spans")
    finally:
        nagios.stop()
    assert ok["plugin_output"] == "ASTERISK_PRI OK - 4 of 4 spans up"
    assert ok["check_type"] == "1"  # passive
    assert result["plugin_output"] == WARNING_LINE
    assert result["performance_data"] == WARNING_PERFDATA
    long_output = result["long_plugin_output"].replace("\\n", "\n")
    assert long_output.splitlines() == [
        "span 1: up (D-channel 0: Up, Active)",
        "span 2: up (D-channel 0: Up, Active)",
        "span 3: DOWN, in alarm (D-channel 0: In Alarm, Down, Active)",
        "span 4: up (D-channel 0: Up, Active)",
    ]
    assert (result["state_type"], result["check_type"]) == ("1", "1")
    nagios_log = (tmp_path / "nagios.log").read_text(errors="replace")
    assert (
        f"EXTERNAL COMMAND: PROCESS_SERVICE_CHECK_RESULT;pbx1;PRI spans;1;{WARNING_LINE} | "
        f"{WARNING_PERFDATA}\\nspan 1: up" in nagios_log
    )
    assert SECRET not in log + nagios_log


def shipped_watched_services() -> set[tuple[str, str]]:
    """(host name, service name) of every service in the shipped asterisk-watch.ini."""
    ini = (CONFIG / "asterisk-watch.ini").read_text(encoding="utf-8")
    watched: set[tuple[str, str]] = set()
    host = ""
    for line in ini.splitlines():
        section = re.match(r"^\[pbx (\S+)\]", line)
        if section:
            host = section[1]
        named = re.match(r"^host_name = (\S+)", line)
        if named:
            host = named[1]
        service = re.match(r"^service (.+?) = ", line)
        if service:
            watched.add((host, service[1]))
    return watched


def test_the_shipped_watch_config_and_nagios_example_name_the_same_services() -> None:
    watched = shipped_watched_services()
    text = (NAGIOS_EXAMPLES / "asterisk-watch.cfg").read_text(encoding="utf-8")
    passive = {
        (fields["host_name"], fields["service_description"])
        for kind, fields in parse_nagios_objects(text)
        if kind == "service" and "host_name" in fields
    }
    assert watched == passive


# -- Icinga 2 -----------------------------------------------------------------------------
ICINGA_OBJECTS = """\
object Host "pbx1" {{
\tcheck_command = "dummy"
\tenable_active_checks = false
}}
object Service "PRI spans" {{
\thost_name = "pbx1"
\tcheck_command = "dummy"
\tenable_active_checks = false
\tmax_check_attempts = 1
}}
object ApiUser "asterisk-watch" {{
\tpassword = "{password}"
\tpermissions = [ "actions/process-check-result", "objects/query/Service" ]
}}
"""


@pytest.fixture
def icinga(tmp_path):
    """A private Icinga 2 with its REST API on a free port, TLS from a throw-away CA."""
    icinga2 = require("icinga2")
    import socket

    import trustme

    ca = trustme.CA()
    node = "localhost"
    cert = ca.issue_cert(node, "127.0.0.1", common_name=node)
    pki = tmp_path / "pki"
    pki.mkdir()
    ca.cert_pem.write_to_path(str(pki / "ca.crt"))
    cert.cert_chain_pems[0].write_to_path(str(pki / f"{node}.crt"))
    cert.private_key_pem.write_to_path(str(pki / f"{node}.key"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    password = "api-pw-" + str(port)
    (tmp_path / "constants.conf").write_text(icinga2_constants(node))
    main = tmp_path / "icinga2.conf"
    main.write_text(
        'include "constants.conf"\ninclude <itl>\n'
        'object IcingaApplication "app" { }\n'
        'object CheckerComponent "checker" { }\n'
        f'object FileLogger "notice" {{\n\tpath = "{tmp_path / "notice.log"}"\n'
        '\tseverity = "notice"\n}\n'
        "object Endpoint NodeName { }\nobject Zone ZoneName { endpoints = [ NodeName ] }\n"
        'object ApiListener "api" {\n'
        f'\tbind_host = "127.0.0.1"\n\tbind_port = {port}\n'
        f'\tcert_path = "{pki / f"{node}.crt"}"\n\tkey_path = "{pki / f"{node}.key"}"\n'
        f'\tca_path = "{pki / "ca.crt"}"\n'
        "\taccept_config = false\n\taccept_commands = false\n}\n"
        + ICINGA_OBJECTS.format(password=password)
    )
    validated = icinga2_validate(icinga2, main, tmp_path / "cache")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    daemon = icinga2_daemon(icinga2, main, tmp_path)
    url = f"https://{node}:{port}"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    auth = "Basic " + base64.b64encode(f"asterisk-watch:{password}".encode()).decode()

    def query(service: str) -> dict:
        request = urllib.request.Request(
            f"{url}/v1/objects/services/pbx1!{urllib.request.quote(service)}",
            headers={"Accept": "application/json", "Authorization": auth},
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as answer:
                return json.load(answer)["results"][0]["attrs"]
        except OSError:
            return {}

    try:
        assert wait_until(lambda: bool(query("PRI spans")), 30, 0.2), (
            tmp_path / "icinga2.out"
        ).read_text(errors="replace")
        credentials = tmp_path / "icinga.credentials"
        credentials.write_text(f"asterisk-watch:{password}\n")
        yield {
            "url": url,
            "ca": pki / "ca.crt",
            "credentials": credentials,
            "query": query,
        }
    finally:
        stop(daemon)


def test_a_span_alarm_reaches_icinga2_through_its_api(tmp_path, simulator, icinga) -> None:
    sim = simulator("18", "pri_all_up")
    config = watch_config(
        tmp_path,
        sim.port,
        {"PRI spans": "check_asterisk_pri -n 4 -c 1"},
        SECRET,
        {
            "nagios_command_file": "",
            "icinga_url": icinga["url"],
            "icinga_ca_file": str(icinga["ca"]),
            "icinga_credentials_file": str(icinga["credentials"]),
        },
    )
    query = icinga["query"]

    def state() -> float | None:
        result = query("PRI spans").get("last_check_result") or {}
        return result.get("state")

    with Daemon(config) as daemon:
        assert wait_until(lambda: state() == 0, 15, 0.1), daemon.log
        sim.set_scenario("pri_span3_alarm", SPAN3_ALARM)
        assert wait_until(lambda: state() == 1, 10, 0.1), daemon.log
        log = daemon.log
    result = query("PRI spans")["last_check_result"]
    assert result["output"].splitlines() == [
        WARNING_LINE,
        "span 1: up (D-channel 0: Up, Active)",
        "span 2: up (D-channel 0: Up, Active)",
        "span 3: DOWN, in alarm (D-channel 0: In Alarm, Down, Active)",
        "span 4: up (D-channel 0: Up, Active)",
    ]
    assert result["performance_data"] == WARNING_PERFDATA.split()
    assert result["check_source"].startswith("asterisk-watch@")
    assert "ERROR" not in log and SECRET not in log


def test_a_wrong_icinga_password_is_logged(tmp_path, simulator, icinga) -> None:
    sim = simulator("18", "pri_all_up")
    icinga["credentials"].write_text("asterisk-watch:wrong-pw\n")
    config = watch_config(
        tmp_path,
        sim.port,
        {"PRI spans": "check_asterisk_pri"},
        SECRET,
        {
            "nagios_command_file": "",
            "icinga_url": icinga["url"],
            "icinga_ca_file": str(icinga["ca"]),
            "icinga_credentials_file": str(icinga["credentials"]),
        },
    )
    with Daemon(config) as daemon:
        assert wait_until(lambda: "cannot report" in daemon.log, 10, 0.1)
        log = daemon.log
    assert f"ERROR cannot report pbx1/PRI spans: Icinga 2 API {icinga['url']}: HTTP 401" in log
    assert "wrong-pw" not in log


def test_the_icinga2_example_validates_and_names_the_watched_services(tmp_path) -> None:
    """icinga2/asterisk-watch.conf with commands.conf and conf.d/, as the README installs it."""
    icinga2 = require("icinga2")
    (tmp_path / "constants.conf").write_text(icinga2_constants())
    main = tmp_path / "icinga2.conf"
    main.write_text(
        'include "constants.conf"\ninclude <itl>\ninclude <plugins>\n'
        f'include "{ICINGA2 / "commands.conf"}"\n'
        f'include_recursive "{ICINGA2 / "conf.d"}"\n'
        f'include "{ICINGA2 / "asterisk-watch.conf"}"\n'
    )
    done = icinga2_validate(icinga2, main, tmp_path / "cache")
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert not re.search(r"\b(warning|critical)/", report), report
    services = {
        o["properties"]["__name"]: o["properties"]
        for o in icinga2_objects(tmp_path / "cache")
        if o["type"] == "Service" and o["properties"]["host_name"] in ("pbx3", "pbx4")
    }
    assert {tuple(name.split("!")) for name in services} == shipped_watched_services()
    for service in services.values():
        assert service["check_interval"] == 300  # above the 240 s heartbeat
        assert service["enable_active_checks"] is True  # the fallback to polling
        assert service["check_command"].startswith("isp_asterisk_")
    assert services["pbx3!PRI spans"]["vars"]["isp_asterisk_pri_expected"] == 4
