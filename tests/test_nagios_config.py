"""nagios-config/: the shipped Nagios, Icinga 2 and NRPE definitions, checked by the real daemons.

- `nagios4 -v` on a main config reading nagios/ (every command) and nagios-examples/ (the PBX
  and relay examples): zero errors, zero warnings.
- `icinga2 daemon -C` on a copy of Debian's stock /etc/icinga2 (icinga2.conf untouched: every
  ITL part, its conf.d), our files dropped where the READMEs put them: the single-server layout
  (conf.d/isp-plugins-*.conf) and the distributed one (zones.conf appended to the master's,
  zones.d/global-templates, zones.d/master): no warning or critical line; the objects it dumps
  are checked (services per host, command_endpoint, the ITL conventions of every CheckCommand).
  None of our CheckCommand names is in the installed ITL.
- Every sudoers line we ship allows exactly a command line a definition runs through sudo, no
  wildcard; `visudo -c` accepts them.
- Nagios 4 started for real, running every AMI command definition against AMI simulators;
  the first results in status.dat are asserted.
- Every option written in a command line (Nagios, NRPE, the examples' arguments) is one the
  plugin accepts, and every plugin option has its Icinga 2 argument.

Tests needing nagios4 or icinga2 skip without them, or fail with ISP_PLUGINS_REQUIRE_SERVICES=1
(.ci/run; .ci/setup.d/20-nagios-icinga.sh installs them).
"""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
from pathlib import Path

import pytest

from asterisk_ami.simulator import Simulator
from tests.conftest import FIXTURES, SECRET
from tests.nagios_helpers import (
    AMI_PLUGINS,
    ICINGA2,
    ITL_INCLUDES,
    MASTER,
    NAGIOS_COMMANDS,
    NAGIOS_EXAMPLES,
    NRPE,
    PBX_HOST_PLUGINS,
    PLUGINS,
    RELAY_PLUGINS,
    SINGLE_SERVER_FILES,
    SUDOERS_RULE,
    icinga2_constants,
    icinga2_daemon,
    icinga2_objects,
    icinga2_validate,
    itl_checkcommands,
    nagios_commands,
    nagios_main_config,
    nrpe_commands,
    parse_nagios_objects,
    parse_status_dat,
    plugin_options,
    plugin_words,
    require,
    stock_constant,
    stock_file,
    stock_icinga2,
    stock_icinga2_master,
    stop,
    sudo_command_lines,
    sudoers_rules,
    wait_until,
)

DROP_IN = (
    "$USER1$/check_asterisk_pri -H $HOSTADDRESS$ -U $ARG1$ -P $ARG2$ -w $ARG3$ -c $ARG4$ -n $ARG5$"
)
#: Plugin options no configuration passes: the secret on the command line (Icinga 2 uses the
#: environment), help and version.
NOT_FOR_CONFIG = {"--password", "--help", "--version"}


@pytest.fixture(scope="module")
def options() -> dict[str, dict[str, str]]:
    """Each plugin's options from its own --help: {script: {-w: --warning, --warning: ...}}."""
    return {script: plugin_options(script) for script in PLUGINS}


def assert_known_options(words: list[str], known: dict[str, str], where: str) -> None:
    """Every word that looks like an option is one the plugin lists in --help."""
    for word in words:
        if re.fullmatch(r"--?[A-Za-z][\w-]*", word):
            assert word in known, f"{where}: the plugin has no option {word}"


# -- Nagios 4 / Naemon: the files ---------------------------------------------------------
def test_every_plugin_has_nagios_commands_and_the_drop_in_is_verbatim() -> None:
    commands = nagios_commands()
    assert commands["check_asterisk_pri"] == DROP_IN
    assert commands["check_asterisk_pri_secretfile"].startswith(
        "$USER1$/check_asterisk_pri -H $HOSTADDRESS$ -U $ARG1$ --secret-file $ARG2$ "
        "-w $ARG3$ -c $ARG4$ -n $ARG5$"
    )
    run = {plugin_words(line)[0] for line in commands.values() if plugin_words(line)}
    assert run == set(PLUGINS)
    for script in AMI_PLUGINS:
        # Both ways of giving the secret, for every AMI plugin; the host from Nagios.
        assert "-P $ARG2$" in commands[script]
        assert "--secret-file $ARG2$" in commands[f"{script}_secretfile"]
        assert "-H $HOSTADDRESS$" in commands[script]


def test_nagios_command_lines_use_only_options_the_plugins_have(options) -> None:
    for name, line in nagios_commands().items():
        found = plugin_words(line)
        if found:
            assert_known_options(found[1], options[found[0]], f"command {name}")


def test_example_services_resolve_to_valid_plugin_command_lines(options) -> None:
    """Each example service's command line, its $ARGn$ filled in, passes only real options."""
    commands = nagios_commands()
    services = [
        fields
        for path in sorted(NAGIOS_EXAMPLES.glob("*.cfg"))
        for kind, fields in parse_nagios_objects(path.read_text(encoding="utf-8"))
        if kind == "service" and "check_command" in fields
    ]
    assert len(services) >= 7
    for service in services:
        name, *args = service["check_command"].split("!")
        line = commands[name]
        for number in range(9, 0, -1):
            line = line.replace(f"$ARG{number}$", args[number - 1] if number <= len(args) else "")
        assert "$ARG" not in line
        found = plugin_words(line)
        if found:
            assert_known_options(found[1], options[found[0]], service["check_command"])
        else:
            assert "check_nrpe" in line, line


# -- NRPE -------------------------------------------------------------------------------
def test_nrpe_commands_run_the_relay_side_plugins_with_real_options(options) -> None:
    commands = nrpe_commands()
    assert {"check_postfix_queue", "check_postfix_queue_all"} <= set(commands)
    assert {"check_ratelimit_offenders", "check_ratelimit_offenders_db"} <= set(commands)
    for name, line in commands.items():
        script, words = plugin_words(line)
        assert script in RELAY_PLUGINS + PBX_HOST_PLUGINS, name
        assert_known_options(words, options[script], f"NRPE command[{name}]")
        # Arguments from the network only in the command meant for dont_blame_nrpe=1.
        assert ("$ARG" in line) == name.endswith("_args"), name
    # Every NRPE command the Nagios definitions ask for exists on the relay side.
    asked = {
        re.search(r"-c (\S+)", line).group(1)
        for line in nagios_commands().values()
        if "check_nrpe" in line
    }
    assert asked and asked <= set(commands)
    text = (NRPE / "isp-plugins.cfg").read_text(encoding="utf-8")
    assert "dont_blame_nrpe=1" in text and "dont_blame_nrpe=0" in text


# -- sudo: the checks that need root -----------------------------------------------------------
#: Characters that make a sudoers argument a pattern (*, ?, [...], \\ escapes), or that sudoers
#: needs escaped (so the rule would differ from the command line), or an argument matching
#: anything ("" is none; ^...$ a regular expression in sudo 1.9.10+; $ an NRPE macro).
SUDOERS_SPECIAL = set("*?[]\\,:=!")


def test_every_sudoers_line_pins_one_command_line_we_run() -> None:
    """No wildcard: the nagios user may run exactly the command lines we define as root, not
    the same plugin with its own --state-dir, socket or configuration directory."""
    rules = sudoers_rules()
    run = sudo_command_lines()
    assert len(rules) >= 2 and len(run) >= 2, (rules, run)  # the readers are not blind
    for where, rule, command in rules:
        program, *arguments = command.split()
        assert program.startswith("/") and arguments, f"{where}: {rule} allows any arguments"
        for argument in arguments:
            assert not SUDOERS_SPECIAL & set(argument), f"{where}: {rule}: {argument}"
            assert not argument.startswith("^") and "$" not in argument, f"{where}: {rule}"
        assert '""' not in arguments, f"{where}: {rule}"
        assert rule.startswith("nagios ALL=(root) NOPASSWD: "), f"{where}: {rule}"
    # Each rule is a command line a definition runs through sudo, and each such line has one.
    allowed = {command for _, _, command in rules}
    assert allowed == set(run.values()), (allowed, run)


def test_the_sudoers_reader_is_not_blind() -> None:
    text = "#   nagios ALL=(root) NOPASSWD: /usr/bin/x --a 1 *\n    admin ALL = /bin/y\nx = /z\n"
    found = [m.group("rule", "command") for m in SUDOERS_RULE.finditer(text)]
    assert found == [
        ("nagios ALL=(root) NOPASSWD: /usr/bin/x --a 1 *", "/usr/bin/x --a 1 *"),
        ("admin ALL = /bin/y", "/bin/y"),
    ]


def visudo_check(visudo: str, path: Path) -> subprocess.CompletedProcess:
    """`visudo -c -f path`: the file's syntax, without installing it."""
    return subprocess.run(
        [visudo, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30, check=False
    )


def test_visudo_accepts_every_shipped_sudoers_line(tmp_path) -> None:
    visudo = require("visudo")
    rules = sorted({rule for _, rule, _ in sudoers_rules()})
    checked = tmp_path / "isp-plugins"
    checked.write_text("".join(f"{rule}\n" for rule in rules))
    checked.chmod(0o440)
    done = visudo_check(visudo, checked)
    assert done.returncode == 0, done.stdout + done.stderr
    # The harness is not blind: visudo refuses a broken line.
    broken = tmp_path / "broken"
    broken.write_text("nagios ALL=(root) NOPASSWD /usr/bin/true --x=1\n")
    done = visudo_check(visudo, broken)
    assert done.returncode != 0, done.stdout


# -- Nagios 4: the daemon validates ---------------------------------------------------------
def nagios_verify(nagios: str, main: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [nagios, "-v", str(main)], capture_output=True, text=True, timeout=60, check=False
    )


def test_nagios4_verifies_every_definition_and_example_without_warnings(tmp_path) -> None:
    nagios = require("nagios4")
    main = nagios_main_config(
        tmp_path,
        cfg_dirs=[NAGIOS_COMMANDS, NAGIOS_EXAMPLES],
        resource={"USER3": SECRET},
    )
    done = nagios_verify(nagios, main)
    report = done.stdout + done.stderr
    assert re.search(r"^Total Warnings:\s+0$", report, re.MULTILINE), report
    assert re.search(r"^Total Errors:\s+0$", report, re.MULTILINE), report
    assert done.returncode == 0, report
    # Everything was read: the example hosts, their services, every command.
    # 18, and the deliveries and blocklist services of the three relays
    assert re.search(r"Checked 24 services\.", report), report
    assert re.search(r"Checked 7 hosts\.", report), report
    commands = len(nagios_commands()) + 1  # + the test's notification command
    assert re.search(rf"Checked {commands} commands\.", report), report


def test_nagios4_verify_does_see_errors(tmp_path) -> None:
    """The harness is not blind: a service with an undefined command is an error."""
    nagios = require("nagios4")
    bad = tmp_path / "bad.cfg"
    bad.write_text(
        "define service {\n    use isp-pbx-service\n    host_name pbx1\n"
        "    service_description broken\n    check_command no_such_command\n}\n"
    )
    main = nagios_main_config(
        tmp_path, cfg_files=[bad], cfg_dirs=[NAGIOS_COMMANDS, NAGIOS_EXAMPLES]
    )
    report = nagios_verify(nagios, main).stdout
    assert not re.search(r"^Total Errors:\s+0$", report, re.MULTILINE), report


# -- Icinga 2: the daemon validates -------------------------------------------------------
def icinga2_problems(done: subprocess.CompletedProcess) -> list[str]:
    return [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if re.search(r"\b(warning|critical)/", line)
    ]


def by_type(objects: list[dict], kind: str) -> dict[str, dict]:
    """Objects of one type by full name (host!service for a service)."""
    return {o["properties"]["__name"]: o["properties"] for o in objects if o["type"] == kind}


def ours(services: dict[str, dict]) -> dict[str, dict]:
    """The services that run our CheckCommands (the stock conf.d applies its own too)."""
    commands = set(PLUGINS.values())
    return {name: s for name, s in services.items() if s["check_command"] in commands}


#: Every ITL part the stock icinga2.conf includes, for the tests' own main configurations.
ITL = "".join(f"include <{part}>\n" for part in ITL_INCLUDES)


def icinga2_valid(icinga2: str, main: Path, cache: Path, defines: tuple[str, ...] = ()) -> str:
    """`icinga2 daemon -C` passes with no warning or critical line; returns its report."""
    done = icinga2_validate(icinga2, main, cache, defines)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert icinga2_problems(done) == [], report
    assert "Finished validating the configuration file(s)." in report
    return report


@pytest.fixture(scope="module")
def single_server(tmp_path_factory) -> list[dict]:
    """One Icinga 2 server: Debian's stock /etc/icinga2 (every ITL part, its conf.d), our
    files dropped into conf.d as the READMEs say."""
    icinga2 = require("icinga2")
    tmp = tmp_path_factory.mktemp("icinga2-single")
    main = stock_icinga2(tmp, SINGLE_SERVER_FILES)
    icinga2_valid(icinga2, main, tmp / "cache")
    return icinga2_objects(tmp / "cache")


@pytest.fixture(scope="module")
def distributed(tmp_path_factory) -> list[dict]:
    """A master with three relay agents, on the stock configuration as the node wizard leaves
    it: zones.conf appended to, zones.d/{global-templates,master}."""
    icinga2 = require("icinga2")
    tmp = tmp_path_factory.mktemp("icinga2-distributed")
    main = stock_icinga2_master(tmp)
    # The daemon reads ZonesDir (default /etc/icinga2/zones.d), not a path relative to main.
    icinga2_valid(icinga2, main, tmp / "cache", (f"-DZonesDir={main.parent / 'zones.d'}",))
    return icinga2_objects(tmp / "cache")


def test_the_stock_icinga2_conf_includes_every_itl_part() -> None:
    """The stock layouts above load every ITL part (ITL_INCLUDES is the stock file's list)."""
    require("icinga2")
    text = stock_file("icinga2.conf").read_text(encoding="utf-8")
    assert tuple(re.findall(r"^include <([\w-]+)>", text, re.MULTILINE)) == ITL_INCLUDES
    assert re.search(r'^include_recursive "conf.d"', text, re.MULTILINE)


def test_no_checkcommand_of_ours_is_in_the_itl() -> None:
    """A CheckCommand the ITL defines too stops Icinga 2 from starting ("re-defined")."""
    itl = itl_checkcommands()
    assert {"fail2ban", "mailq", "ping4"} <= itl  # the reader is not blind
    assert set(PLUGINS.values()) & itl == set()


def test_the_stock_configuration_refuses_a_name_the_itl_has(tmp_path) -> None:
    """The harness is not blind: the stock includes make a second "fail2ban" an error (what
    commands.conf did before its names had ICINGA2_PREFIX)."""
    icinga2 = require("icinga2")
    main = stock_icinga2(tmp_path, {})
    (main.parent / "conf.d" / "clash.conf").write_text(
        'object CheckCommand "fail2ban" { command = [ "/bin/true" ] }\n'
    )
    done = icinga2_validate(icinga2, main, tmp_path / "cache")
    assert done.returncode != 0
    assert "Object 'fail2ban' of type 'CheckCommand' re-defined" in done.stdout, done.stdout


def test_icinga2_single_server_keeps_the_stock_objects(single_server) -> None:
    commands = by_type(single_server, "CheckCommand")
    assert set(PLUGINS.values()) <= set(commands)
    assert {"fail2ban", "mailq", "ping4"} <= set(commands)  # every ITL part was loaded
    # The stock conf.d is loaded, its templates.conf too: the node's host imports generic-host.
    hosts = by_type(single_server, "Host")
    assert any("generic-host" in host["templates"] for host in hosts.values()), sorted(hosts)
    assert any(name.endswith("!load") for name in by_type(single_server, "Service"))


def test_icinga2_single_server_applies_the_pbx_services(single_server) -> None:
    services = ours(by_type(single_server, "Service"))
    assert sorted(
        name for name in services if name.startswith("pbx1.") or name.startswith("pbx2.")
    ) == [
        "pbx1.example.net!bri-ports",
        "pbx1.example.net!dahdi-alarms",
        "pbx1.example.net!fxo-lines",
        "pbx1.example.net!pri-spans",
        "pbx2.example.net!dahdi-alarms",
        "pbx2.example.net!pri-spans",
    ]
    pri1 = services["pbx1.example.net!pri-spans"]
    assert pri1["check_command"] == "isp_asterisk_pri"
    assert pri1["vars"]["isp_asterisk_pri_expected"] == 4
    assert pri1["vars"]["isp_asterisk_pri_secret"] == "change-me"
    pri2 = services["pbx2.example.net!pri-spans"]["vars"]
    assert pri2["isp_asterisk_pri_secret_file"] == "/etc/icinga2/secrets/pbx2.ami"
    assert pri2["isp_asterisk_pri_tls"] is True
    assert services["pbx1.example.net!fxo-lines"]["vars"]["isp_asterisk_fxo_channel"] == "1-4"


def test_icinga2_distributed_checks_every_relay_queue_on_its_own_agent(distributed) -> None:
    services = by_type(distributed, "Service")
    zones = by_type(distributed, "Zone")
    endpoints = by_type(distributed, "Endpoint")
    relays = sorted(name for name in by_type(distributed, "Host") if name.startswith("relay"))
    assert relays == [f"relay{n}.example.net" for n in (1, 2, 3)]
    assert MASTER in by_type(distributed, "Host")  # the stock conf.d's host of the node
    for relay in relays:
        queue = services[f"{relay}!postfix-queue"]
        assert queue["check_command"] == "isp_postfix_queue"
        assert queue["command_endpoint"] == relay
        assert queue["zone"] == "master"
        # One zone per node, a child of the master's, holding the agent's endpoint.
        assert zones[relay]["endpoints"] == [relay]
        assert zones[relay]["parent"] == "master"
        assert relay in endpoints
        assert services[f"{relay}!agent-health"]["vars"]["cluster_zone"] == relay
        offenders = services[f"{relay}!ratelimit-offenders"]
        assert offenders["command_endpoint"] == relay
        assert offenders["check_command"] == "isp_ratelimit_offenders"
    assert services["relay1.example.net!postfix-queue"]["vars"]["isp_postfix_queue_warning"] == 500
    relay3 = services["relay3.example.net!postfix-queue"]["vars"]
    assert relay3["isp_postfix_queue_warning"] == 2000 and relay3["isp_postfix_queue_all_instances"]
    log = services["relay1.example.net!ratelimit-offenders"]["vars"]
    assert log["isp_ratelimit_offenders_log"] == "/var/log/mail.log"
    assert "isp_ratelimit_offenders_dsn" not in log
    database = services["relay3.example.net!ratelimit-offenders"]["vars"]
    assert database["isp_ratelimit_offenders_backend"] == "policyd-rate-limit"
    assert "isp_ratelimit_offenders_log" not in database
    # The agents get the CheckCommands from the global zone.
    assert zones["global-templates"]["global"] is True
    for command in PLUGINS.values():
        assert by_type(distributed, "CheckCommand")[command]["zone"] == "global-templates"
    assert len(by_type(distributed, "Dependency")) == 6  # queue and offenders, per relay


@pytest.mark.parametrize("layout", ["single_server", "distributed"])
def test_example_services_set_only_variables_their_command_reads(layout, request) -> None:
    """Icinga 2 passes the option of a variable set to null, with an empty value ('-c' '',
    which the plugin refuses): what `vars.x = host.vars.y` does where the host has no y, and
    `host.vars...` in an object Service, which has no host in scope. The rules set only the
    variables a host gives; objects use macros."""
    objects = request.getfixturevalue(layout)
    commands = {n: c for n, c in by_type(objects, "CheckCommand").items() if n in PLUGINS.values()}
    checked = 0
    for name, service in by_type(objects, "Service").items():
        command = commands.get(service["check_command"])
        if command:
            checked += 1
            nulls = [k for k, v in (service["vars"] or {}).items() if v is None]
            assert nulls == [], f"{name}: {nulls}"
            # And every variable of the command's that it sets is one the command reads (the
            # rules that copy a host's dictionary key by key would drop a misspelt key).
            read = set(re.findall(r"\$(\w+)\$", json.dumps([command["arguments"], command["env"]])))
            prefix = service["check_command"] + "_"
            given = {k for k in service["vars"] or {} if k.startswith(prefix)}
            assert given <= read, f"{name}: {sorted(given - read)}"
    assert checked >= 6  # the reader is not blind


def test_icinga2_distributed_puts_each_pbx_in_its_satellite_zone(distributed) -> None:
    """The scaled-out PBXs (tests/test_icinga_zones.py runs them on a real master and
    satellite): hosts and services in the satellite's zone, so the satellite checks them; the
    zone's health checked on the master; the watcher's API user only in the zone."""
    services = by_type(distributed, "Service")
    zone = by_type(distributed, "Zone")["pbx-east"]
    assert (zone["parent"], zone["endpoints"]) == ("master", ["satellite-east.example.net"])
    pbx = {
        name: s
        for name, s in services.items()
        if name.startswith(("pbx5.", "pbx6.")) and s["check_command"] != "ping4"
    }
    assert sorted(pbx) == [
        "pbx5.example.net!PRI spans",
        "pbx5.example.net!pri-spans",
        "pbx6.example.net!DAHDI alarms",
    ]
    for name in ("pbx5.example.net", "pbx6.example.net"):
        assert by_type(distributed, "Host")[name]["zone"] == "pbx-east"
    assert {s["zone"] for s in pbx.values()} == {"pbx-east"}
    # Only the variables the host gives: a null one would pass its option, empty.
    assert {
        k: v for k, v in pbx["pbx5.example.net!pri-spans"]["vars"].items() if k != "isp_group"
    } == {
        "isp_asterisk_pri_username": "nagios",
        "isp_asterisk_pri_secret_file": "/etc/icinga2/secrets/pbx5.ami",
        "isp_asterisk_pri_expected": 4,
        "isp_asterisk_pri_warning": 3,
        "isp_asterisk_pri_calls": True,
    }
    for name in ("pbx5.example.net!PRI spans", "pbx6.example.net!DAHDI alarms"):
        assert pbx[name]["check_command"] == "passive"
        assert pbx[name]["vars"]["dummy_state"] == 3
        assert pbx[name]["enable_active_checks"] is True  # the freshness check
    health = by_type(distributed, "Host")["satellite-east.example.net"]
    assert (health["zone"], health["check_command"]) == ("master", "cluster-zone")
    assert health["vars"]["cluster_zone"] == "pbx-east"
    assert by_type(distributed, "ApiUser")["asterisk-watch-pbx-east"]["zone"] == "pbx-east"


def test_the_zone_watcher_reports_the_services_its_zone_expects(distributed) -> None:
    """asterisk-watch-pbx-east.ini posts under the host and service names of the zone's
    watched services, and only for hosts of that zone."""
    ini = (ICINGA2 / "asterisk-watch-pbx-east.ini").read_text(encoding="utf-8")
    posted, host = set(), ""
    for line in ini.splitlines():
        if re.match(r"^host_name = ", line):
            host = line.split(" = ", 1)[1]
        elif re.match(r"^service .+ = ", line):
            posted.add(f"{host}!{line[len('service ') :].split(' = ', 1)[0]}")
    watched = {
        name
        for name, s in by_type(distributed, "Service").items()
        if s["check_command"] == "passive" and s["zone"] == "pbx-east"
    }
    assert posted == watched == {"pbx5.example.net!PRI spans", "pbx6.example.net!DAHDI alarms"}


def test_icinga2_daemon_c_does_see_warnings(tmp_path) -> None:
    """The harness is not blind: an apply rule that matches no host is a warning."""
    icinga2 = require("icinga2")
    (tmp_path / "constants.conf").write_text(icinga2_constants())
    main = tmp_path / "icinga2.conf"
    main.write_text(
        'include "constants.conf"\n' + ITL + f'include "{ICINGA2 / "commands.conf"}"\n'
        'apply Service "nowhere" { check_command = "isp_asterisk_pri"; assign where false }\n'
    )
    done = icinga2_validate(icinga2, main, tmp_path / "cache")
    assert any("warning/" in line for line in icinga2_problems(done)), done.stdout


@pytest.mark.parametrize("script", sorted(PLUGINS))
def test_icinga2_checkcommand_follows_the_itl_conventions(script, single_server, options) -> None:
    name = PLUGINS[script]
    command = by_type(single_server, "CheckCommand")[name]
    assert command["command"] == [f"{stock_constant('PluginContribDir')}/{script}"]
    covered = set()
    for key, argument in command["arguments"].items():
        assert key in options[script], f"{name}: {key} is not an option of {script}"
        covered.add(options[script][key])
        assert argument.get("description"), f"{name} {key}: no description"
        macro = argument.get("set_if") or argument.get("value")
        assert ("set_if" in argument) != ("value" in argument), f"{name} {key}"
        # Variables prefixed with the command name.
        variable = re.fullmatch(rf"\$({name}_[a-z_]+)\$", macro)
        assert variable, f"{name} {key}: {macro}"
        if "set_if" in argument:  # flags default to false
            assert command["vars"][variable.group(1)] is False, f"{name} {key}"
    # Every option of the plugin but the command-line secret, help and version.
    assert covered == set(options[script].values()) - NOT_FOR_CONFIG
    assert "-P" not in command["arguments"] and "--password" not in command["arguments"]
    # Secrets reach the plugin in its environment, not in the process list.
    if script in AMI_PLUGINS:
        assert command["vars"][f"{name}_address"] == "$address$"
        assert command["arguments"]["-U"]["required"] is True
        assert command["env"] == {"ASTERISK_AMI_SECRET": f"${name}_secret$"}
    elif script == "check_ratelimit_offenders":
        assert command["env"] == {"RATELIMIT_DB_PASSWORD": f"${name}_password$"}


# -- Nagios 4, started for real --------------------------------------------------------------
SCENARIOS = {
    "pri": "pri_span3_alarm",
    "bri": "bri_dahdi_all_up",
    "fxo": "fxo_no_battery",
    "dahdi": "dahdi_red_alarm",
    "peers": "peers_lab",
}
#: (host, service, check_command with the secret file as {secret_file}, state, first line).
E2E_SERVICES = [
    (
        "pri",
        "PRI drop-in",
        f"check_asterisk_pri!monitor!{SECRET}!3!1!4",
        1,
        "ASTERISK_PRI WARNING - 3 of 4 spans up - in alarm: 3",
    ),
    (
        "pri",
        "PRI secret file",
        "check_asterisk_pri_secretfile!monitor!{secret_file}!2!1!4",
        0,
        "ASTERISK_PRI OK - 3 of 4 spans up - in alarm: 3",
    ),
    (
        "bri",
        "BRI",
        "check_asterisk_bri!monitor!$USER3$!3!0!4",
        0,
        "ASTERISK_BRI OK - 4 of 4 ports up",
    ),
    (
        "bri",
        "BRI secret file",
        "check_asterisk_bri_secretfile!monitor!{secret_file}!4!3!4!--idle-ok",
        1,
        "ASTERISK_BRI WARNING - 4 of 4 ports up",
    ),
    (
        "fxo",
        "FXO",
        "check_asterisk_fxo!monitor!$USER3$!3!0!2",
        1,
        "ASTERISK_FXO WARNING - 1 of 2 FXO lines up - no line: 2",
    ),
    (
        "fxo",
        "FXO secret file",
        "check_asterisk_fxo_secretfile!monitor!{secret_file}!3!1!4!--channel 1-4",
        2,
        "ASTERISK_FXO CRITICAL - 1 of 4 FXO lines up - no line: 2 - 2 FXO ports listed, 4 expected",
    ),
    (
        "dahdi",
        "DAHDI",
        "check_asterisk_dahdi!monitor!$USER3$",
        2,
        "ASTERISK_DAHDI CRITICAL - 4 of 5 spans OK - RED: 3",
    ),
    (
        "dahdi",
        "DAHDI secret file",
        "check_asterisk_dahdi_secretfile!monitor!{secret_file}!--span 1,2",
        0,
        "ASTERISK_DAHDI OK - 2 of 2 spans OK",
    ),
    (
        "peers",
        "Peers",
        "check_asterisk_peers!monitor!$USER3$",
        2,
        "ASTERISK_PEERS CRITICAL - trunk SIP/dead-sip UNREACHABLE, trunk IAX2/dead-iax "
        "UNREACHABLE, registration SIP/pbxsip2@127.0.0.1:5060 No Authentication, registration "
        "PJSIP/wrong-reg Rejected, trunk SIP/slow-sip LAGGED (751 ms) and 2 more - 6 of 12 "
        "peers reachable - 3 of 5 registrations up",
    ),
    (
        "peers",
        "Peers secret file",
        "check_asterisk_peers_secretfile!monitor!{secret_file}!--tech iax2 --peer provider-iax",
        0,
        "ASTERISK_PEERS OK - 1 of 1 peer reachable - 1 of 1 registration up",
    ),
]


def loopback_on_ami_port() -> str:
    """A free 127.x.y.z with nothing on 5038: the drop-in command has no port argument."""
    for _ in range(50):
        address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
        with socket.socket() as probe:
            try:
                probe.bind((address, 5038))
            except OSError:
                continue
        return address
    pytest.skip("no free loopback address for port 5038")


@pytest.fixture
def ami_pbxs():
    """One simulator per scenario, each on its own loopback address, port 5038."""
    started = {}
    try:
        for kind, scenario in SCENARIOS.items():
            sim = Simulator(
                asterisk="18", scenario=scenario, secret=SECRET, fixtures=FIXTURES, auth_delay=0.05
            )
            address = loopback_on_ami_port()
            assert sim.start_in_thread(host=address, port=5038) == 5038
            started[kind] = (address, sim)
        yield {kind: address for kind, (address, _) in started.items()}
    finally:
        for _, sim in started.values():
            sim.stop()


def e2e_objects(pbxs: dict[str, str], secret_file: Path) -> str:
    """Hosts on the simulators, services with our command definitions, checked once."""
    parts = [
        "define service {\n    name isp-test-service\n    check_period 24x7\n"
        "    max_check_attempts 1\n    check_interval 120\n    retry_interval 120\n"
        "    contact_groups admins\n    notification_period 24x7\n"
        "    notifications_enabled 0\n    register 0\n}\n"
    ]
    for kind, address in pbxs.items():
        parts.append(
            f"define host {{\n    host_name pbx-{kind}\n    address {address}\n"
            "    max_check_attempts 1\n    check_period 24x7\n    active_checks_enabled 0\n"
            "    contact_groups admins\n    notification_period 24x7\n}\n"
        )
    for kind, description, check, _, _ in E2E_SERVICES:
        parts.append(
            f"define service {{\n    use isp-test-service\n    host_name pbx-{kind}\n"
            f"    service_description {description}\n"
            f"    check_command {check.format(secret_file=secret_file)}\n}}\n"
        )
    return "\n".join(parts)


def test_nagios4_runs_every_ami_command_definition_end_to_end(tmp_path, ami_pbxs) -> None:
    nagios = require("nagios4")
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    objects = tmp_path / "e2e.cfg"
    objects.write_text(e2e_objects(ami_pbxs, secret_file))
    main = nagios_main_config(
        tmp_path,
        cfg_files=[objects, *sorted(NAGIOS_COMMANDS.glob("check_asterisk_*.cfg"))],
        resource={"USER3": SECRET},
        settings={
            # Seconds instead of minutes; every check at once, at start; status every second.
            "interval_length": "1",
            "service_inter_check_delay_method": "n",
            "host_inter_check_delay_method": "n",
            "max_service_check_spread": "1",
            "max_concurrent_checks": "8",
            "check_result_reaper_frequency": "1",
            "status_update_interval": "1",
            "retain_state_information": "0",
            "execute_host_checks": "0",
            "service_check_timeout": "30",
        },
    )
    verify = nagios_verify(nagios, main)
    assert re.search(r"^Total Errors:\s+0$", verify.stdout, re.MULTILINE), verify.stdout

    status = tmp_path / "status.dat"

    def services() -> dict[str, dict[str, str]]:
        if not status.exists():
            return {}
        blocks = parse_status_dat(status.read_text(encoding="utf-8", errors="replace"))
        return {
            f"{b['host_name']}/{b['service_description']}": b
            for kind, b in blocks
            if kind == "servicestatus" and b.get("has_been_checked") == "1"
        }

    results: dict[str, dict[str, str]] = {}

    def all_checked() -> bool:
        results.update(services())
        return len(results) == len(E2E_SERVICES)

    with open(tmp_path / "nagios.out", "w") as out:
        daemon = subprocess.Popen(
            [nagios, str(main)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            done = wait_until(all_checked, seconds=45)
        finally:
            stop(daemon)
    log = (tmp_path / "nagios.log").read_text(errors="replace")
    assert done, f"not every service checked within 45 s: {sorted(results)}\n{log}"
    for kind, description, _, state, output in E2E_SERVICES:
        result = results[f"pbx-{kind}/{description}"]
        # Nagios 4 stores ';' in plugin output as ':' (';' separates fields in its formats).
        expected = output.replace(";", ":")
        assert (result["plugin_output"], result["current_state"]) == (expected, str(state))
    pri = results["pbx-pri/PRI drop-in"]
    assert pri["performance_data"] == "spans_alarm=1;;;0;4 spans_down=1;;;0;4 spans_up=3;4:;2:;0;4"
    assert "span 3: DOWN, in alarm (D-channel 0: In Alarm, Down, Active)" in pri[
        "long_plugin_output"
    ].replace("\\n", "\n")
    assert pri["state_type"] == "1"  # hard: max_check_attempts 1
    assert SECRET not in log


# -- Icinga 2, started for real --------------------------------------------------------------
def test_icinga2_runs_the_checkcommands_with_the_secret_in_the_environment(
    tmp_path, ami_pbxs
) -> None:
    """isp_asterisk_pri with <command>_secret (env) and isp_asterisk_dahdi with a secret file."""
    icinga2 = require("icinga2")
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    perfdata = tmp_path / "perfdata"
    perfdata.mkdir()
    (tmp_path / "constants.conf").write_text(icinga2_constants("isp-test.example.net"))
    main = tmp_path / "icinga2.conf"
    main.write_text(
        f"""include "constants.conf"
{ITL}include "{ICINGA2 / "commands.conf"}"

object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
object FileLogger "notice" {{
\tpath = "{tmp_path / "notice.log"}"
\tseverity = "notice"
}}
object PerfdataWriter "results" {{
\tservice_perfdata_path = "{perfdata / "service"}"
\tservice_temp_path = "{perfdata / "service.tmp"}"
\thost_perfdata_path = "{perfdata / "host"}"
\thost_temp_path = "{perfdata / "host.tmp"}"
\tservice_format_template = "$service.name$\\t$service.state_id$\\t$service.output$"
\trotation_interval = 1s
}}

object Host "pbx-pri" {{
\taddress = "{ami_pbxs["pri"]}"
\tcheck_command = "dummy"
\tenable_active_checks = false
}}
object Host "pbx-dahdi" {{
\taddress = "{ami_pbxs["dahdi"]}"
\tcheck_command = "dummy"
\tenable_active_checks = false
}}
object Service "pri-spans" {{
\thost_name = "pbx-pri"
\tcheck_command = "isp_asterisk_pri"
\tcheck_interval = 2s  /* the first check falls at random within it */
\tvars.isp_asterisk_pri_username = "monitor"
\tvars.isp_asterisk_pri_secret = "{SECRET}"
\tvars.isp_asterisk_pri_expected = 4
\tvars.isp_asterisk_pri_warning = 3
}}
object Service "dahdi-alarms" {{
\thost_name = "pbx-dahdi"
\tcheck_command = "isp_asterisk_dahdi"
\tcheck_interval = 2s  /* the first check falls at random within it */
\tvars.isp_asterisk_dahdi_username = "monitor"
\tvars.isp_asterisk_dahdi_secret_file = "{secret_file}"
\tvars.isp_asterisk_dahdi_span = [ 1, 2 ]
}}
"""
    )
    validated = icinga2_validate(icinga2, main, tmp_path / "cache")
    assert icinga2_problems(validated) == [], validated.stdout + validated.stderr

    results: dict[str, tuple[str, str]] = {}

    def both_checked() -> bool:
        for path in perfdata.glob("service.*"):
            for line in path.read_text(errors="replace").splitlines():
                fields = line.split("\t")
                if len(fields) == 3:  # Icinga 2 keeps the space before the '|'
                    results[fields[0]] = (fields[1], fields[2].rstrip())
        return len(results) == 2

    daemon = icinga2_daemon(icinga2, main, tmp_path)
    try:
        done = wait_until(both_checked, seconds=30)
    finally:
        stop(daemon)
    log = (tmp_path / "notice.log").read_text(errors="replace")
    assert done, f"{results}\n{(tmp_path / 'icinga2.out').read_text(errors='replace')}"
    assert results["pri-spans"] == ("1", "ASTERISK_PRI WARNING - 3 of 4 spans up - in alarm: 3")
    assert results["dahdi-alarms"] == ("0", "ASTERISK_DAHDI OK - 2 of 2 spans OK")
    # The command lines Icinga 2 ran: the address from the host, the repeated --span, and
    # no secret (it went through ASTERISK_AMI_SECRET).
    commands = [line for line in log.splitlines() if "Running command" in line]
    assert any(f"'-H' '{ami_pbxs['pri']}'" in line for line in commands), log
    assert any("'--span' '1' '--span' '2'" in line for line in commands), log
    assert SECRET not in log
