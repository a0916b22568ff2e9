"""asterisk-watch at scale (issue 19): many PBXs from one simulator process, evaluations spread
over the interval, logins ramped, in-loop evaluation, the open-files limit, and PBXs that
misbehave without delaying their neighbours. The figures are benchmarks/bench_watch_scale.py's.
"""

from __future__ import annotations

import asyncio
import math
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asterisk_ami.session import Session, Target
from asterisk_ami.simulator import FARM_SCENARIO, REFUSED, Farm
from isp_plugins.watch.inloop import CachedSession, Foreign, Missing, comparable, drive, same
from isp_plugins.watch.limits import RESERVED, capacity_error, pbx_capacity
from isp_plugins.watch.schedule import LoginGate, login_slot, next_slot, offset
from tests.conftest import ROOT, SECRET, run_script, started_in_threads, wait_for
from tests.watch_helpers import WATCH, Results

PRI_OK = (
    "ASTERISK_PRI OK - 4 of 4 spans up | spans_alarm=0;;;0;4 spans_down=0;;;0;4 "
    "spans_up=4;4:;1:;0;4"
)
PRI_SPAN3 = (
    "ASTERISK_PRI WARNING - 3 of 4 spans up - in alarm: 3 | spans_alarm=1;;;0;4 "
    "spans_down=1;;;0;4 spans_up=3;4:;1:;0;4"
)


@pytest.fixture
def farm() -> Iterator[Any]:
    """Start farms of simulated PBXs in a thread each; all are stopped after the test."""
    yield from started_in_threads(Farm)


def on_loop(farm: Farm, order: str) -> str:
    """A control order, run on the farm's loop (as its control socket runs them)."""
    assert farm._loop is not None

    async def run() -> str:
        return farm.control(order)

    return asyncio.run_coroutine_threadsafe(run(), farm._loop).result(10)


def farm_config(
    directory: Path, ports: dict[str, int], services: dict[str, str], watch: dict[str, str]
) -> Path:
    """An asterisk-watch INI with one [pbx NAME] per simulated PBX, results to a plain file."""
    results = directory / "results.cmd"
    results.touch()
    lines = ["[watch]", f"nagios_command_file = {results}"]
    lines += [f"{k} = {v}" for k, v in watch.items()]
    for name, port in ports.items():
        lines += ["", f"[pbx {name}]", "host = 127.0.0.1", f"port = {port}", "user = monitor"]
        lines.append(f"secret = {SECRET}")
        lines += [f"service {service} = {command}" for service, command in services.items()]
    path = directory / "watch.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class HostResults(Results):
    """The command file's results by host: each one's code and status line, in order."""

    def by_host(self, service: str) -> dict[str, list[tuple[int, str]]]:
        found: dict[str, list[tuple[int, str]]] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            parts = line.split(";", 4)
            if len(parts) == 5 and parts[2] == service:
                status = parts[4].split("\\n")[0]  # the long output follows, escaped
                found.setdefault(parts[1], []).append((int(parts[3]), status))
        return found


def limited(soft: int, hard: int, *command: str) -> list[str]:
    """``command`` run under an open-files limit of ``soft`` (``hard``)."""
    return [
        sys.executable,
        "-c",
        "import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, "
        f"({soft}, {hard})); os.execv(sys.argv[1], sys.argv[1:])",
        *command,
    ]


def start_watch(config: Path, limit: int | None = None) -> subprocess.Popen[bytes]:
    """asterisk-watch in the background (stderr in watch.log), under an open-files limit."""
    command = [str(WATCH), "--config", str(config)]
    if limit is not None:
        command = limited(limit, limit, *command)
    with open(config.with_suffix(".log"), "w") as log:
        return subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )


def stop_watch(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# -- the simulator's many PBXs --------------------------------------------------------------
def test_a_farm_plays_pbxs_each_with_its_own_state(farm) -> None:
    pbxs = farm(3, failures={"pbx00003": REFUSED})
    ports = pbxs.ports
    assert sorted(ports) == ["pbx00001", "pbx00002", "pbx00003"]
    assert len(set(ports.values())) == 3

    def pri(name: str) -> tuple[int, str]:
        run = run_script(
            "check_asterisk_pri", "-p", str(ports[name]), "-U", "monitor", "-P", SECRET, "-n", "4"
        )
        return run.code, run.status

    assert on_loop(pbxs, "flip pbx00001") == "ok alarm"
    assert pri("pbx00001") == (1, PRI_SPAN3)
    assert pri("pbx00002") == (0, PRI_OK)
    code, status = pri("pbx00003")
    assert (code, status) == (
        2,
        f"ASTERISK_PRI CRITICAL - cannot connect to AMI at 127.0.0.1:{ports['pbx00003']}: "
        "connection refused",
    )
    # Every check is served by one PBX: the scenarios are joined.
    fxo = run_script(
        "check_asterisk_fxo", "-p", str(ports["pbx00002"]), "-U", "monitor", "-P", SECRET
    )
    assert fxo.status.startswith("ASTERISK_FXO OK - 2 of 2 FXO lines up"), fxo.stdout
    dahdi = run_script(
        "check_asterisk_dahdi", "-p", str(ports["pbx00002"]), "-U", "monitor", "-P", SECRET
    )
    assert dahdi.status.startswith("ASTERISK_DAHDI OK - 5 of 5 spans OK"), dahdi.stdout
    assert on_loop(pbxs, "flip pbx00001 silent") == "ok clear"
    assert pri("pbx00001") == (0, PRI_OK)
    assert [c[1:] for c in pbxs.changes] == [
        ("pbx00001", "alarm", "event"),
        ("pbx00001", "clear", "silent"),
    ]
    assert on_loop(pbxs, "logins") == "ok 5"  # 3 PRI runs, FXO, DAHDI; none on the dead one
    assert on_loop(pbxs, "flip pbx00009").startswith("error: unknown order")


def test_a_farm_pbx_sends_its_events_to_its_own_sessions_only(farm) -> None:
    pbxs = farm(2)
    events: dict[str, list[str]] = {"pbx00001": [], "pbx00002": []}

    async def listen() -> None:
        sessions = []
        for name, port in pbxs.ports.items():
            session = Session(
                Target("127.0.0.1", port, "monitor", SECRET),
                events="system",
                on_event=lambda event, n=name: events[n].append(str(event.get("Event"))),
            )
            await session.connect()
            await session.login()
            sessions.append(session)
        await asyncio.get_running_loop().run_in_executor(None, on_loop, pbxs, "flip pbx00002")
        for _ in range(200):  # 10 s at most: did not hang
            if "SpanAlarm" in events["pbx00002"]:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # room for a stray event to the other PBX's session
        for session in sessions:
            await session.logoff(0.5)
            session.close()

    asyncio.run(listen())
    assert events == {"pbx00001": ["FullyBooted"], "pbx00002": ["FullyBooted", "SpanAlarm"]}


def test_the_flapping_pbxs_are_a_share_of_the_healthy_ones_chosen_by_the_seed(farm) -> None:
    pbxs = Farm(200, failures={"pbx00001": "stall"})
    chosen = pbxs.flappers(0.01, seed=7)
    assert chosen == pbxs.flappers(0.01, seed=7) and len(chosen) == 2
    assert "pbx00001" not in pbxs.flappers(1.0, seed=7)
    assert len(Farm(10).flappers(0.01)) == 1  # at least one


def test_a_scenario_may_join_directories(simulator) -> None:
    sim = simulator("18", "pri_span3_alarm+fxo_no_battery")
    assert "In Alarm" in (sim.cli_output("pri show spans") or "")
    assert "DAHDIShowChannels" in (sim.action_reply("DAHDIShowChannels", "7") or "")
    assert sim.cli_output("dahdi show status") is None  # in neither directory
    with pytest.raises(ValueError, match=r"no fixtures at .*no_such_dir"):
        sim.set_scenario("pri_all_up+no_such_dir")
    assert sim.scenario == "pri_span3_alarm+fxo_no_battery"


def test_the_farm_command_line_refuses_more_pbxs_than_its_open_files_allow() -> None:
    done = subprocess.run(
        limited(128, 128, sys.executable, "-m", "asterisk_ami.simulator", "--pbxs", "100"),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith(
        "error: 100 PBXs need 264 open files, the limit is 128: split them over several farms "
        "(--first)"
    )


# -- spreading the evaluations and the logins --------------------------------------------
def test_each_pbx_has_a_stable_place_in_the_interval_and_10000_spread_evenly() -> None:
    assert offset("pbx00001", 30) == offset("pbx00001", 30)
    assert offset("pbx00001", 30) != offset("pbx00002", 30)
    places = [offset(f"pbx{i:05d}", 30) for i in range(1, 10001)]
    assert all(0 <= p < 30 for p in places)
    per_second = Counter(int(p) for p in places)
    # 333 a second on average; never a second with twice that, nor an idle one.
    assert len(per_second) == 30
    assert min(per_second.values()) > 250 and max(per_second.values()) < 420


def test_the_next_slot_is_the_place_plus_whole_intervals_strictly_after_now() -> None:
    assert next_slot(0.0, 7.0, 30.0) == 7.0
    assert next_slot(100.0, 7.0, 30.0) == 127.0
    assert next_slot(126.9, 7.0, 30.0) == 127.0
    assert next_slot(127.0, 7.0, 30.0) == 157.0  # an evaluation at the slot: the next one
    assert next_slot(1e6 + 0.5, 0.0, 5.0) == 1e6 + 5.0


def test_logins_start_at_the_rate_however_many_wait() -> None:
    last, slots = -math.inf, []
    for _ in range(10000):
        last = login_slot(0.0, last, 250.0)
        slots.append(last)
    assert slots[0] == 0.0 and slots[1] == pytest.approx(0.004)
    assert slots[-1] == pytest.approx(9999 / 250)  # 10,000 logins in 40 s
    assert login_slot(100.0, slots[-1], 250.0) == 100.0  # after a quiet time: at once


def test_the_login_gate_bounds_the_logins_under_way_and_spaces_their_starts() -> None:
    async def run() -> tuple[int, list[float]]:
        gate = LoginGate(rate=50.0, concurrency=3)
        loop = asyncio.get_running_loop()
        busy, most, starts = 0, 0, []

        async def login() -> None:
            nonlocal busy, most
            async with gate:
                starts.append(loop.time())
                busy += 1
                most = max(most, busy)
                await asyncio.sleep(0.05)
                busy -= 1

        await asyncio.gather(*(login() for _ in range(10)))
        return most, starts

    most, starts = asyncio.run(run())
    assert most == 3
    # The k-th login starts k/rate after the first at the soonest (a lower bound: no timing).
    assert all(start - starts[0] >= k / 50 - 0.001 for k, start in enumerate(starts))


def test_the_interval_evaluation_comes_at_the_pbx_place_not_an_interval_after_login(
    tmp_path, simulator
) -> None:
    interval = 30.0
    now = time.monotonic()
    # A PBX whose place comes 6 to 9 s from now: well after its login's evaluation, well
    # before an interval after it (where the evaluation came before issue 19).
    name = next(
        f"pbx{i}"
        for i in range(10000)
        if 6 < next_slot(now, offset(f"pbx{i}", interval), interval) - now < 9
    )
    slot = next_slot(now, offset(name, interval), interval)
    sim = simulator("18", "pri_all_up")
    config = farm_config(
        tmp_path, {name: sim.port}, {"PRI": "check_asterisk_pri -n 4"}, {"interval": "30"}
    )
    watch = start_watch(config)
    try:
        asked = lambda: [  # noqa: E731
            t for a, t in zip(sim.received, sim.received_at) if a.get("command") == "pri show spans"
        ]
        assert wait_for(lambda: len(asked()) >= 2, 25), config.with_suffix(".log").read_text()
    finally:
        stop_watch(watch)
    first, second = asked()[:2]
    assert first < slot <= second + 0.01  # the login's evaluation, then the PBX's place
    assert second < now + interval  # not an interval after the login


# -- in-loop evaluation ----------------------------------------------------------------------
def test_an_acquisition_is_driven_to_its_end_when_its_replies_are_cached() -> None:
    replies: dict[tuple[str, ...], Any] = {("Command", "pri show spans"): "the reply"}
    view = CachedSession(Session(Target("127.0.0.1")), replies)

    async def work(session: Any) -> str:
        return str(await session.command("pri show spans"))

    assert drive(work, view, 5.0) == "the reply"

    async def asks_more(session: Any) -> str:
        await session.command("pri show spans")
        return str(await session.command("dahdi show status"))

    with pytest.raises(Missing) as missing:
        drive(asks_more, view, 5.0)
    assert (missing.value.key, missing.value.deadline) == (("Command", "dahdi show status"), 5.0)

    async def sleeps(session: Any) -> None:
        await asyncio.sleep(1)

    async def in_a_loop() -> None:
        with pytest.raises(Foreign):
            drive(sleeps, view, 5.0)

    asyncio.run(in_a_loop())


def test_replies_are_the_same_when_only_their_action_ids_differ() -> None:
    from asterisk_ami.errors import CommandNotFound
    from asterisk_ami.replies import CommandOutput

    spans = CommandOutput("pri show spans", ("PRI span 1/0: Up, Active",), "output")
    events = [{"Event": "DAHDIShowChannels", "DAHDIChannel": "1", "ActionID": "a/1"}]
    key, listed = ("Command", "pri show spans"), ("List", "Action: DAHDIShowChannels")
    kept = {key: comparable(spans), listed: comparable(events)}
    again = [{"Event": "DAHDIShowChannels", "DAHDIChannel": "1", "ActionID": "a/2"}]
    assert same(kept, {key: spans, listed: again})
    changed = CommandOutput("pri show spans", ("PRI span 1/0: In Alarm, Down, Active",), "output")
    assert not same(kept, {key: changed, listed: again})
    assert not same(kept, {key: spans})  # a reply not asked for this round
    refused = CommandNotFound("pri show spans", "No such command")
    assert not same({key: refused}, {key: refused})  # a refusal is evaluated again


# -- the open-files limit ------------------------------------------------------------------
def test_the_pbxs_an_open_files_limit_allows() -> None:
    assert RESERVED == 64
    assert pbx_capacity(20000) == 19936
    assert pbx_capacity(65536) == 65472
    assert pbx_capacity(10) == 0
    assert capacity_error(1024, 960) is None
    assert capacity_error(1024, 961) == (
        "open files: limit 1024 allows 960 PBX(s), but 961 are configured: watching the first "
        "960, not the other 1 (raise LimitNOFILE= in the systemd unit, or shard the PBXs over "
        "more watchers)"
    )


def test_the_watcher_raises_its_soft_limit_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, hard, 512) // 2
    code = (
        "import resource; from isp_plugins.watch.limits import raise_open_files; "
        "print(raise_open_files(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    done = subprocess.run(
        limited(lowered, hard, sys.executable, "-c", code),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    expected = hard if hard != resource.RLIM_INFINITY else 1 << 20
    assert done.stdout.split() == [str(expected), str(expected)]


def test_a_watcher_over_its_open_files_limit_says_so_and_watches_what_fits(tmp_path, farm) -> None:
    pbxs = farm(3)
    config = farm_config(tmp_path, pbxs.ports, {"PRI": "check_asterisk_pri -n 4"}, {})
    results = HostResults(tmp_path / "results.cmd")
    watch = start_watch(config, limit=RESERVED + 2)
    try:
        assert wait_for(lambda: len(results.by_host("PRI")) == 2, 20)
        time.sleep(0.5)  # room for a third result, were the third PBX watched
    finally:
        stop_watch(watch)
    log = config.with_suffix(".log").read_text()
    assert sorted(results.by_host("PRI")) == ["pbx00001", "pbx00002"], log
    assert (
        "ERROR open files: limit 66 allows 2 PBX(s), but 3 are configured: watching the first "
        "2, not the other 1 (raise LimitNOFILE= in the systemd unit, or shard the PBXs over "
        "more watchers)\n"
    ) in log
    assert "INFO watching 2 PBX(s), 2 service(s); interval 5s, stale 30s, heartbeat 240s; " in log
    assert "; open files 66: room for 2 PBXs\n" in log
    assert len(pbxs.pbxs["pbx00003"].actions("Login")) == 0


def test_the_systemd_unit_sets_the_open_files_limit() -> None:
    unit = (ROOT / "nagios-config" / "asterisk-watch.service").read_text()
    assert "\nLimitNOFILE=65536\n" in unit


# -- hostile neighbours ----------------------------------------------------------------------
#: Five of fifty PBXs misbehave as the suite's hostile servers do: hung replies, an event
#: flood, garbage, a connection closed mid-reply, a dead PBX refusing connections.
HOSTILE = {
    "pbx00046": "stall",
    "pbx00047": "flood",
    "pbx00048": "garbage",
    "pbx00049": "close-mid-reply",
    "pbx00050": REFUSED,
}


def test_pbxs_that_misbehave_do_not_delay_the_healthy_ones(tmp_path, farm) -> None:
    pbxs = farm(50, failures=HOSTILE, scenario=FARM_SCENARIO)
    healthy = [name for name in pbxs.names if name not in HOSTILE]
    services = {"PRI": "check_asterisk_pri -n 4", "FXO": "check_asterisk_fxo"}
    # Only the login's evaluation and events: an alarm reported is the event's doing.
    config = farm_config(tmp_path, pbxs.ports, services, {"interval": "600"})
    results = HostResults(tmp_path / "results.cmd")
    watch = start_watch(config)
    try:
        # Generous bounds: proofs that nothing hung, not speed goals (see the benchmark).
        first = wait_for(lambda: set(healthy) <= set(results.by_host("FXO")), 60)
        assert first, config.with_suffix(".log").read_text()
        assert on_loop(pbxs, "flip pbx00007") == "ok alarm"
        alarmed = wait_for(lambda: (1, PRI_SPAN3) in results.by_host("PRI").get("pbx00007", []), 30)
        assert watch.poll() is None
    finally:
        stop_watch(watch)
    log = config.with_suffix(".log").read_text()
    assert alarmed, log
    pri = results.by_host("PRI")
    assert all(pri[name][0] == (0, PRI_OK) for name in healthy), log
    assert not any(code == 0 for name in HOSTILE for code, _ in pri.get(name, [])), log
    assert "Traceback" not in log
