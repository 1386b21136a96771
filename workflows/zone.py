"""One workflow per zone, for its whole life.

Orchestration only: the rules live in models.lifecycle and models.deadlines. Every human act
is an Update whose validator runs the same check as its handler, so a refused act leaves
nothing in the history. The workflow sleeps until the next deadline or the next fiscal year,
and continues as new at each fiscal-year boundary (or when the server suggests it), carrying
the whole state (its past runs' timeline entries packed: TIMELINE_ARCHIVE_PATCH).
"""

# No `from __future__ import annotations` in this module: the sandbox executes it afresh for
# every workflow run (each zone continues as new every fiscal year), and temporalio reads the
# type hints of its handlers each time. As strings they are compiled and evaluated again on
# every run: 3.4 ms per import against 1.4 ms with the hints evaluated once, at definition
# (with 33 handlers then; see the acts' one handler at the end of the class).
import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models import acts as A
    from models import codes as _codes  # noqa: F401  (loaded lazily by notices; pass it through now)
    from models.deadlines import fire_due, next_due
    from models.fiscal import fiscal_year_of, fiscal_year_start, jst_date, jst_midnight
    from models.lifecycle import ActRefused, check, initial_state, perform, validate_start
    from models.notice import BatchOutcome, DeliveryOutcome, Notice, NoticeBatch, NoticeStatus
    from models.projection import BASE_MISSING, ProjectionInput, SentSections
    from models.read_rows import ProjectionRows, Row, notice_statuses, projection_rows
    from models.zone import TimelineEntry, ZoneState
    from models.zone_input import ZoneInput
    from workflows.search import zone_search_attributes

PROJECT_TIMEOUT = timedelta(seconds=30)
# Zones from before PROJECTION_LOCAL_PATCH project with a (remote) activity that heartbeats
# while it waits for the database, so a dead worker is noticed after this long.
PROJECT_HEARTBEAT = timedelta(seconds=5)
PROJECT_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
# The projection runs as a local activity, in the workflow task that accepted the act: the
# clerk's answer takes one round trip through Temporal instead of three, and the projection's
# input (the zone's state) is not written into the history and sent back out to a poller. It is
# a short, idempotent database write, which is what local activities are for; a worker that
# dies mid-write leaves the workflow task to time out and the next worker writes it again.
PROJECTION_LOCAL_PATCH = "projection-local"
# Deliveries run on `<task queue>-notices` with slots of their own: a burst of copies (a
# publication sends 9) must not queue ahead of the projections clerks are waiting for.
NOTICE_QUEUE_SUFFIX = "-notices"
NOTICE_QUEUE_PATCH = "notices-own-queue"
# Projections send only the actuals and yearly reviews that changed (models/projection.py),
# one at a time. Older histories replay with whole-state projections.
PROJECTION_DELTA_PATCH = "projection-delta"
# The notices that become due together go out in one activity (`deliver_notices`); one that
# could not go then is retried alone. Older histories replay with one activity per notice.
NOTICE_BATCH_PATCH = "notices-batched"
NOTICE_BATCH_SIZE = 50
# The zone builds its read model's rows itself and sends them (models/read_rows.py), leaving out
# the child tables unchanged since its last projection: the activity then has no state to
# decode and no kept sections to merge back, which cost more than the write. Older histories
# replay with the state sent (PROJECTION_DELTA_PATCH or whole).
PROJECTION_ROWS_PATCH = "projection-rows"
# An act wakes the main loop only when the loop has something to do that its timer would not
# bring (an end, a nearer deadline, continue-as-new); it starts the act's deliveries itself.
# Waking for every act cancelled the loop's timer and started another: two of the eight
# history events an act cost, and a run of the deadline rules, for nothing. Older histories
# replay with the loop woken by every act and every delivery.
WAKE_ON_NEED_PATCH = "wake-on-need"
# A zone sends a copy's row to its read model once per status (ProjectionRows.notices).
NOTICES_ONCE_PATCH = "notices-once"
# While a run waits for its deliveries before continuing as new, acts still land but their
# copies wait in the state for the next run. Each act used to start deliveries of its own, and
# the wait went on for as long as acts kept coming: a run suggested to hop at 60 events grew to
# 121 in one test run, and under a steady stream of acts it had no bound but DRAIN_TIMEOUT.
DRAIN_HOLDS_PATCH = "drain-holds-deliveries"
# At continue-as-new a zone packs its run's timeline entries into one compressed chunk of its
# state (ZoneState.archive_timeline). As models, after ten fiscal years they were three fifths of
# the objects in a zone's state, which each of the worker's full garbage collections scanned for
# all its zones, and half of every continue-as-new input. Older histories replay carrying them
# as models; either way the commands are the same.
TIMELINE_ARCHIVE_PATCH = "timeline-archived"
# The first build with one marker per run (fc4f0f0) recorded this one instead, and dropped each
# entry once projected rather than packing them; its histories replay as its own runs did.
TIMELINE_TRIM_PATCH = "timeline-trimmed"
# Runs that record TIMELINE_ARCHIVE_PATCH take every patch above without asking for it: each
# patch's marker cost a run two history events (the marker, and the TemporalChangeVersion search
# attribute the SDK upserts with it), and a fiscal year's run recorded six or seven of them,
# about a sixth of its events in the national bench. Older histories ask for each as they did.
# A patch added after TIMELINE_ARCHIVE_PATCH calls workflow.patched itself.
IMPLIED_BY_ARCHIVE = frozenset(
    {
        PROJECTION_LOCAL_PATCH,
        NOTICE_QUEUE_PATCH,
        PROJECTION_DELTA_PATCH,
        NOTICE_BATCH_PATCH,
        PROJECTION_ROWS_PATCH,
        WAKE_ON_NEED_PATCH,
        NOTICES_ONCE_PATCH,
        DRAIN_HOLDS_PATCH,
    }
)
# Before continuing as new, give deliveries in flight this long to finish, so the next run does
# not start a second attempt of a notice whose first attempt is still running.
DRAIN_TIMEOUT = timedelta(hours=1)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["PermanentDeliveryFailure"],
)


def _patched(patch_id: str) -> bool:
    """workflow.patched for a patch from before TIMELINE_ARCHIVE_PATCH. Replaying an older
    history, the first call finds neither bundle's marker and the run asks for each patch as it
    did (the SDK keeps each answer for the run); a run that records the bundle records no other."""
    assert patch_id in IMPLIED_BY_ARCHIVE, patch_id
    return (
        workflow.patched(TIMELINE_ARCHIVE_PATCH)
        or workflow.patched(TIMELINE_TRIM_PATCH)
        or workflow.patched(patch_id)
    )


def _base_missing(err: ActivityError | ApplicationError) -> bool:
    """The read model lacks what a projection left out (an activity's failure arrives wrapped
    in ActivityError, a local activity's as is)."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return isinstance(cause, ApplicationError) and cause.type == BASE_MISSING


@workflow.defn(name="Zone")
class ZoneWorkflow:
    @workflow.init
    def __init__(self, inp: ZoneInput) -> None:
        # Everything the state needs happens here, not in run(): updates that arrived with the
        # first workflow task (acts sent while no worker ran) are handled before run() starts.
        self._wake = False
        self._notices_changed = False  # a delivery failed: the read model should show it
        self._in_flight: set[str] = set()
        self._draining = False  # waiting for deliveries before continue-as-new: start no more
        self._alone: set[str] = set()  # notices a batch could not deliver: retried one by one
        self._projected_seq = 0
        self._sent = SentSections()
        self._sent_digests: dict[str, str] | None = None  # the child tables' digests as last sent
        self._sent_rows: dict[str, list[Row]] | None = None  # and their rows
        self._sent_notices: dict[str, str] | None = None  # the copies' statuses as last sent
        self._projecting = asyncio.Lock()
        self._search_attributes: TypedSearchAttributes | None = None
        self._refused: str | None = None
        self._wake_at: datetime | None = None  # when the main loop's timer fires
        self._validated: tuple[object, A.Act] | None = None  # an act's payload and the act decoded
        if inp.state is not None:
            self.state = inp.state
            self.state.run += 1
            self._projected_seq = len(self.state.timeline)
            # continue_as_new carried them over explicitly; no need to upsert them again
            self._search_attributes = zone_search_attributes(self.state)
        else:
            assert inp.start is not None
            try:
                validate_start(inp.start)  # a start that bypassed ZoneService is checked here too
            except ActRefused as refused:
                self._refused = str(refused)
            self.state, first = initial_state(inp.start, workflow.now())
            self.state.notices.extend(first)
        self._run_fy = fiscal_year_of(jst_date(workflow.now()))

    # ------------------------------------------------------------------ main loop

    @workflow.run
    async def run(self, inp: ZoneInput) -> ZoneState:
        if self._refused is not None:
            raise ApplicationError(self._refused, type="ActRefused", non_retryable=True)
        self._upsert_search_attributes()
        if self._timeline_unprojected():
            await self._project()
        while True:
            self._dispatch_notices()
            sleep = self._sleep_for()
            self._wake_at = workflow.now() + sleep
            try:
                await workflow.wait_condition(lambda: self._wake, timeout=sleep)
            except TimeoutError:
                pass
            self._wake = False
            now = workflow.now()
            fired = fire_due(self.state, jst_date(now), now)
            self.state.notices.extend(fired)
            if fired or self._timeline_unprojected() or self._notices_changed:
                self._notices_changed = False
                self._upsert_search_attributes()
                await self._project()
            if (
                self.state.ended_on is not None
                and not self._in_flight
                and not any(n.status is NoticeStatus.pending for n in self.state.notices)
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self.state
            if (
                jst_date(now) >= fiscal_year_start(self._run_fy + 1)
                or workflow.info().is_continue_as_new_suggested()
            ):
                await self._drain_deliveries()
                await workflow.wait_condition(workflow.all_handlers_finished)  # each projects itself
                if workflow.patched(TIMELINE_ARCHIVE_PATCH):
                    self.state.archive_timeline()  # every entry is in the read model by now
                workflow.continue_as_new(
                    ZoneInput(state=self.state), search_attributes=zone_search_attributes(self.state)
                )

    async def _drain_deliveries(self) -> None:
        if not self._in_flight:
            return
        if _patched(DRAIN_HOLDS_PATCH):
            self._draining = True  # what acts add now goes with the next run (ZoneInput.state)
        try:
            await workflow.wait_condition(lambda: not self._in_flight, timeout=DRAIN_TIMEOUT)
        except TimeoutError:
            pass  # still pending in the state: the next run sends them again (idempotent key)

    def _sleep_for(self) -> timedelta:
        """Until the next deadline or the next fiscal year, whichever is first."""
        wake = jst_midnight(fiscal_year_start(self._run_fy + 1))
        due = next_due(self.state)
        if due is not None:
            wake = min(wake, jst_midnight(due))
        return max(wake - workflow.now(), timedelta(seconds=1))

    def _timeline_unprojected(self) -> bool:
        return len(self.state.timeline) > self._projected_seq

    # ------------------------------------------------------------------ read model and notices

    async def _project(self) -> None:
        new = self.state.timeline[self._projected_seq :]
        self._projected_seq = len(self.state.timeline)
        if _patched(PROJECTION_ROWS_PATCH):
            await self._project_rows(new)
            return
        if not _patched(PROJECTION_DELTA_PATCH):
            await self._send_projection(ProjectionInput.of(self.state, new))
            return
        # One projection at a time, each relative to the last one that completed: a delta
        # built while another is in flight could keep sections the read model does not hold.
        async with self._projecting:
            inp, after = self._sent.delta(self.state, new)
            try:
                await self._send_projection(inp)
            except (ActivityError, ApplicationError) as err:
                if inp.kept is None or not _base_missing(err):
                    raise
                self._sent.forget()  # the read model was rebuilt or restored: send it all
                inp, after = self._sent.delta(self.state, new)
                await self._send_projection(inp)
            self._sent.sent(after)

    async def _project_rows(self, new: list[TimelineEntry]) -> None:
        # One at a time, each relative to the last that completed (as with the delta below).
        async with self._projecting:
            once = _patched(NOTICES_ONCE_PATCH)
            statuses = notice_statuses(self.state) if once else None
            rows = projection_rows(self.state, new, self._sent_digests, self._sent_notices, self._sent_rows)
            try:
                await self._write_rows(rows)
            except (ActivityError, ApplicationError) as err:
                if self._sent_digests is None or not _base_missing(err):
                    raise
                rows = projection_rows(self.state, new, None)  # the read model lost rows: send all
                await self._write_rows(rows)
            self._sent_digests = rows.digests
            self._sent_rows = (self._sent_rows or {}) | rows.children  # the others are unchanged
            self._sent_notices = statuses

    async def _write_rows(self, rows: ProjectionRows) -> None:
        await self._project_locally("project_rows", rows)

    async def _send_projection(self, inp: ProjectionInput) -> None:
        if _patched(PROJECTION_LOCAL_PATCH):
            await self._project_locally("project_zone", inp)
            return
        await workflow.execute_activity(
            "project_zone",
            inp,
            start_to_close_timeout=PROJECT_TIMEOUT,
            heartbeat_timeout=PROJECT_HEARTBEAT,
            retry_policy=PROJECT_RETRY,
        )

    async def _project_locally(self, activity: str, arg: ProjectionRows | ProjectionInput) -> None:
        await workflow.execute_local_activity(
            activity, arg, start_to_close_timeout=PROJECT_TIMEOUT, retry_policy=PROJECT_RETRY
        )

    def _dispatch_notices(self) -> None:
        if self._draining:
            return
        ready = [
            n for n in self.state.notices if n.status is NoticeStatus.pending and n.key not in self._in_flight
        ]
        if ready and _patched(NOTICE_BATCH_PATCH):
            batch = [n for n in ready if n.key not in self._alone]
            for i in range(0, len(batch), NOTICE_BATCH_SIZE):
                chunk = batch[i : i + NOTICE_BATCH_SIZE]
                self._in_flight.update(n.key for n in chunk)
                asyncio.create_task(self._deliver_batch(chunk))
            ready = [n for n in ready if n.key in self._alone]
        for notice in ready:
            self._in_flight.add(notice.key)
            asyncio.create_task(self._deliver(notice))

    async def _deliver_batch(self, notices: list[Notice]) -> None:
        """One activity for the copies that became due together; a notice that could not go
        now is sent again alone, with Temporal's backoff (`_deliver`)."""
        outcomes: dict[str, DeliveryOutcome] = {}
        try:
            result = await workflow.execute_activity(
                "deliver_notices",
                NoticeBatch(notices=notices),
                task_queue=workflow.info().task_queue + NOTICE_QUEUE_SUFFIX,
                result_type=BatchOutcome,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3),
            )
            outcomes = {o.key: o for o in result.outcomes}
        except Exception:  # noqa: BLE001 — each notice then goes alone
            pass
        finally:
            self._in_flight.difference_update(n.key for n in notices)
        alone = False
        for n in notices:
            o = outcomes.get(n.key)
            if o is None or o.status is NoticeStatus.pending:
                self._alone.add(n.key)
                alone = True
            else:
                self._settle(n.key, o.status, o.detail)
        self._delivered(retry=alone)

    async def _deliver(self, notice: Notice) -> None:
        # Zones started before this change keep delivering on the main queue when replayed.
        queue = workflow.info().task_queue + NOTICE_QUEUE_SUFFIX if _patched(NOTICE_QUEUE_PATCH) else None
        try:
            outcome = await workflow.execute_activity(
                "deliver_notice",
                notice,
                task_queue=queue,
                result_type=DeliveryOutcome,
                start_to_close_timeout=timedelta(minutes=2),
                schedule_to_close_timeout=timedelta(days=60),
                retry_policy=DELIVERY_RETRY,
            )
            status, detail = outcome.status, outcome.detail
        except Exception as err:  # noqa: BLE001 — a delivery that gave up is an incident, not a crash
            cause = getattr(err, "cause", None)
            status, detail = NoticeStatus.failed, str(cause or err)
        finally:
            self._in_flight.discard(notice.key)
        self._settle(notice.key, status, detail)
        self._delivered(retry=False)

    def _delivered(self, retry: bool) -> None:
        """A delivery finished. The loop must project a failure, send the notices a batch
        could not deliver one by one, and end a zone whose last notice went; otherwise it
        sleeps on (a delivered notice's row was already written by the activity)."""
        if not _patched(WAKE_ON_NEED_PATCH) or retry or self._notices_changed or self.state.ended_on:
            self._wake = True

    def _must_wake(self) -> bool:
        """After an act: the zone ended, a deadline came nearer than the loop's timer, or the
        server suggests continuing as new (checked only when the loop wakes)."""
        if self.state.ended_on is not None or workflow.info().is_continue_as_new_suggested():
            return True
        due = next_due(self.state)
        return self._wake_at is None or (due is not None and jst_midnight(due) < self._wake_at)

    def _settle(self, key: str, status: NoticeStatus, detail: str | None) -> None:
        """A delivered notice leaves the state; a failed one stays, marked, for the read model."""
        if status is NoticeStatus.delivered:
            self.state.notices = [n for n in self.state.notices if n.key != key]
            self.state.notices_sent += 1
        else:
            for n in self.state.notices:
                if n.key == key:
                    n.status, n.failure = NoticeStatus.failed, detail
            self._notices_changed = True

    def _upsert_search_attributes(self) -> None:
        """Only when they changed: every upsert is a history event, and most acts change none."""
        attrs = zone_search_attributes(self.state)
        if attrs != self._search_attributes:
            workflow.upsert_search_attributes(attrs)
            self._search_attributes = attrs

    # ------------------------------------------------------------------ acts

    def _check(self, act: A.Act) -> None:
        if self._refused is not None:
            raise ApplicationError(self._refused, type="ActRefused", non_retryable=True)
        try:
            check(self.state, act, jst_date(workflow.now()))
        except ActRefused as refused:
            raise ApplicationError(str(refused), type="ActRefused", non_retryable=True) from None

    async def _act(self, act: A.Act) -> A.ActResult:
        now = workflow.now()
        try:
            outcome = perform(self.state, act, now, jst_date(now))
        except ActRefused as refused:
            # Only reachable when two acts were validated against the same state in one task.
            raise ApplicationError(str(refused), type="ActRefused", non_retryable=True) from None
        if not outcome.duplicate:
            self.state.notices.extend(outcome.notices)
            self._upsert_search_attributes()
            if not _patched(WAKE_ON_NEED_PATCH):
                self._wake = True
            else:
                self._dispatch_notices()
                self._wake = self._wake or self._must_wake()
            await self._project()
        return A.ActResult(
            zone_id=self.state.zone_id,
            version=self.state.version,
            act=type(act).__name__,
            summary=outcome.summary,
            duplicate=outcome.duplicate,
        )

    @workflow.query
    def state_query(self) -> ZoneState:
        return self.state

    # One Update handler, dynamic, for every act, where there were sixteen (and as many
    # validators). The sandbox imports this module afresh for every run (each zone's start, its
    # continue-as-new every fiscal year, a replay after its run left the worker's cache), and
    # temporalio inspects every handler of the class each time: signatures, type hints, each
    # validator against its handler. With 33 handlers that was 7-10 ms of the worker's event
    # loop per run in the national bench, during which no other zone's act moved (~4 ms now;
    # bench/README item 17). The Updates keep their names (models.acts.UPDATE_NAMES): clients
    # call them as before, and histories recorded with the named handlers replay through this
    # one, which does what each of them did.

    @workflow.update(dynamic=True)
    async def act(self, name: str, args: Sequence[RawValue]) -> A.ActResult:
        # The act the validator decoded from this very payload, not decoded again (a pydantic
        # decode per act, ~1% of the worker's GIL in the national bench). Replaying, validators
        # do not run and the handler decodes it: the same act either way, the same commands.
        validated, self._validated = self._validated, None
        if validated is not None and len(args) == 1 and validated[0] is args[0].payload:
            return await self._act(validated[1])
        try:
            act = _decode(name, args)
        except ApplicationError:
            raise
        except Exception as err:  # the validator refused it already; never fail the task
            raise ApplicationError(str(err), type=type(err).__name__, non_retryable=True) from None
        return await self._act(act)

    @act.validator
    def _v_act(self, name: str, args: Sequence[RawValue]) -> None:
        act = _decode(name, args)
        self._check(act)
        self._validated = (args[0].payload, act)  # the handler runs next, with the same payload


def _decode(name: str, args: Sequence[RawValue]) -> A.Act:
    """The act an Update named `name` carries; an unknown name, a missing act or one that does
    not fit its model is refused (pydantic's ValidationError names the field)."""
    cls = A.ACT_FOR_UPDATE.get(name)
    if cls is None:
        raise ApplicationError(
            f"「{name}」という行為はありません (no act named {name!r}; known: {', '.join(A.ACT_FOR_UPDATE)})",
            type="ActRefused",
            non_retryable=True,
        )
    if len(args) != 1:
        raise ApplicationError(
            f"行為 {name} には内容が一つ必要です (the {name} update takes one act, not {len(args)})",
            type="ActRefused",
            non_retryable=True,
        )
    act: A.Act = workflow.payload_converter().from_payload(args[0].payload, cls)
    return act
