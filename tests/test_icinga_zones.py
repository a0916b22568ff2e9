"""Beyond one machine: a real Icinga 2 master and a PBX satellite in a child zone
(tests/icinga_lab.py), configured from nagios-config/icinga2/ (zones.conf, zones.d/), with
asterisk-watch beside the satellite (asterisk-watch-pbx-east.ini) and AMI simulators playing
the zone's two PBXs.

What the master's API must show:
- the active pri-spans, scheduled and run by the satellite (zone placement), and the passive
  services the watcher posts to the satellite's API, both with their plugin's exact output;
- the watcher gone: the satellite's freshness check turns the passive services to the
  configured stale state and text, and the master shows that;
- the satellite gone: the master's cluster-zone check of the zone turns CRITICAL, and the
  zone's services keep their last results, overdue (next_update passed), since the master never
  checks a child zone's objects.

Skipped without icinga2, failed with ISP_PLUGINS_REQUIRE_SERVICES=1
(.ci/setup.d/20-nagios-icinga.sh installs it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from asterisk_ami.simulator import Simulator
from tests.conftest import FIXTURES, SECRET
from tests.icinga_lab import ICINGA2, SATELLITE, ZONE, Lab, free_loopback
from tests.nagios_helpers import require, wait_until
from tests.services import services
from tests.watch_helpers import Daemon

pytestmark = services

#: The example's PBXs (zones.d/pbx-east/pbx-east.conf, asterisk-watch-pbx-east.ini) and the
#: scenario the simulator playing each one serves.
PBXS = {"192.0.2.14": "pri_span3_alarm", "192.0.2.15": "dahdi_red_alarm"}
PRI_POLLED = "pbx5.example.net!pri-spans"
PRI_WATCHED = "pbx5.example.net!PRI spans"
DAHDI_WATCHED = "pbx6.example.net!DAHDI alarms"
HEALTH = "satellite-east.example.net"
#: The plugins' lines for those scenarios, with the example's thresholds: pri-spans is
#: isp_asterisk_pri -n 4 -w 3 --calls, "PRI spans" check_asterisk_pri -w 2 -c 1 -n 4.
POLLED_LINE = "ASTERISK_PRI WARNING - 3 of 4 spans up - in alarm: 3 - 24 calls"
WATCHED_LINE = "ASTERISK_PRI OK - 3 of 4 spans up - in alarm: 3"
DAHDI_LINE = "ASTERISK_DAHDI CRITICAL - 4 of 5 spans OK - RED: 3"
#: Generous deadlines (seconds): the config sync validates and restarts the satellite first.
SYNC = 90
STALE = 60


def stale_text() -> str:
    """The watched services' configured stale text (the freshness check's output)."""
    text = (ICINGA2 / "zones.d/global-templates/isp-plugins-satellite-pbx.conf").read_text()
    found = re.search(
        r'template Service "isp-satellite-watched-service" \{.*?\tvars\.dummy_text = "([^"]+)"',
        text,
        re.S,
    )
    assert found, "no dummy_text in isp-satellite-watched-service"
    return found.group(1)


@pytest.fixture
def pbxs() -> Iterator[dict[str, str]]:
    """One simulator per example PBX, each on a loopback address of its own, port 5038 (the
    example gives no port)."""
    started: list[Simulator] = []
    addresses = {}
    try:
        for example, scenario in PBXS.items():
            sim = Simulator(
                asterisk="18",
                scenario=scenario,
                secret=SECRET,
                username="nagios",  # the example's AMI user
                fixtures=FIXTURES,
                auth_delay=0.05,
            )
            address = free_loopback(5038)
            assert sim.start_in_thread(host=address, port=5038) == 5038
            started.append(sim)
            addresses[example] = address
        yield addresses
    finally:
        for sim in started:
            sim.stop()


@pytest.fixture
def lab(tmp_path, pbxs) -> Iterator[Lab]:
    icinga2 = require("icinga2")
    lab = Lab(icinga2, tmp_path, pbxs, SECRET)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


def summary(objects: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """Each object's last result in short, for a failure's message."""
    return {name: (result(objects, name).get("state"), status(objects, name)) for name in objects}


def status(objects: dict[str, dict[str, Any]], name: str) -> str:
    """The output's status line: its first line (the long output follows), without the space
    Icinga 2 keeps from before the perfdata's '|'."""
    return str(result(objects, name).get("output", "")).split("\n")[0].rstrip()


def result(objects: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return (objects.get(name) or {}).get("last_check_result") or {}


def test_results_of_a_satellite_zone_reach_the_master_and_go_stale_as_configured(lab) -> None:
    master, satellite = lab.master, lab.satellite
    # The satellite has the zone's objects only once the master's config sync is applied.
    assert wait_until(lambda: PRI_WATCHED in satellite.objects("services"), SYNC, 0.5), lab.logs

    seen: dict[str, dict[str, Any]] = {}

    def master_shows(expected: dict[str, tuple[int, str]]) -> bool:
        seen.update(master.objects("services"))
        seen.update(master.objects("hosts"))
        return all(
            result(seen, name).get("state") == code and status(seen, name) == line
            for name, (code, line) in expected.items()
        )

    fresh = {
        PRI_POLLED: (1, POLLED_LINE),
        PRI_WATCHED: (0, WATCHED_LINE),
        DAHDI_WATCHED: (2, DAHDI_LINE),
    }
    with Daemon(lab.watch_ini()) as watcher:
        assert wait_until(lambda: master_shows(fresh), SYNC, 0.5), (
            summary(seen),
            watcher.log,
            lab.logs,
        )
        watcher_log = watcher.log
    # Who ran what: the satellite the active check (its endpoint is the check source), the
    # watcher the passive ones, posted to the satellite and relayed to the master.
    polled = result(seen, PRI_POLLED)
    assert (polled["active"], polled["check_source"]) == (True, SATELLITE)
    assert "calls_span4=11;;;0;30" in polled["performance_data"]
    for name in (PRI_WATCHED, DAHDI_WATCHED):
        watched = result(seen, name)
        assert watched["active"] is False
        assert watched["check_source"].startswith("asterisk-watch@"), watched
        assert seen[name]["zone"] == ZONE
    assert seen[PRI_POLLED]["zone"] == ZONE
    assert result(seen, HEALTH)["state"] == 0
    assert result(seen, HEALTH)["output"].startswith(f"Zone '{ZONE}' is connected.")

    # The watcher is gone: within the freshness threshold (the watched services'
    # check_interval) the satellite runs their check_command, the ITL's "passive", and the
    # master shows the configured state and text; the polled service goes on.
    stale = stale_text()
    gone = {PRI_WATCHED: (3, stale), DAHDI_WATCHED: (3, stale), PRI_POLLED: (1, POLLED_LINE)}
    assert wait_until(lambda: master_shows(gone), STALE, 0.5), (summary(seen), lab.logs)
    for name in (PRI_WATCHED, DAHDI_WATCHED):
        assert (result(seen, name)["active"], result(seen, name)["check_source"]) == (
            True,
            SATELLITE,
        )

    # The satellite is gone: the master's cluster-zone check of the zone says so at once,
    # and nothing runs the zone's checks any more, so their next_update passes (overdue).
    satellite.stop()
    stopped = time.time()

    def zone_down() -> bool:
        seen.update(master.objects("hosts"))
        health = result(seen, HEALTH)
        return health.get("state") == 2 and health.get("execution_end", 0) > stopped

    assert wait_until(zone_down, STALE, 0.5), (seen.get(HEALTH), lab.logs)
    assert result(seen, HEALTH)["output"].startswith(f"Zone '{ZONE}' is not connected.")
    seen.update(master.objects("services"))
    last = {name: result(seen, name)["execution_end"] for name in gone}

    def overdue() -> bool:
        seen.update(master.objects("services"))
        return all(seen[name]["next_update"] < time.time() for name in gone)

    assert wait_until(overdue, STALE, 0.5), {name: seen[name]["next_update"] for name in gone}
    # Overdue, not re-checked: the results are the satellite's last ones.
    assert {name: result(seen, name)["execution_end"] for name in gone} == last
    assert result(seen, PRI_POLLED)["check_source"] == SATELLITE
    assert SECRET not in watcher_log + lab.logs
