"""The dry run: what a run would do, from the files and the journal, nothing written or sent;
priced in Procore requests and time when credentials are given (the targets, their drawings
and the rate-limit headers are read, never written)."""

from __future__ import annotations

import time

import aiohttp

from bulkimport.errors import ConfigError
from bulkimport.estimate import plan_cost
from bulkimport.journal.store import Journal
from bulkimport.outcome import PlanSummary
from bulkimport.procore.client import ProcoreClient
from bulkimport.settings import Credentials, Settings
from bulkimport.source.planner import Decision, checked_decisions, decisions, read_order
from bulkimport.stages.target import area_in, set_in


async def plan_only(
    settings: Settings, credentials: Credentials | None = None, examples: int = 5
) -> PlanSummary:
    """What a run would do, from the files and the journal; nothing is written or sent. With
    credentials it also reads (never writes) the targets and their drawings to price the plan.
    A run over several projects gets a summary of each in `parts`, and their sum."""
    parts = [await _plan_project(each, credentials, examples) for each in settings.projects()]
    return parts[0] if len(parts) == 1 else PlanSummary.of_parts(parts)


async def _plan_project(
    settings: Settings, credentials: Credentials | None, examples: int
) -> PlanSummary:
    manifest, order = await read_order(settings)
    project = settings.procore.project_id
    journal = await Journal.open_if_present(settings.engine.journal, projects=(project,))
    summary = PlanSummary(
        manifest_problems=order.manifest_problems,
        waves=order.last_wave + 1,
        project_id=project,
        folder=settings.source.root,
    )
    try:
        uploads = (await journal.leftovers(settings.source.root)).uploads if journal else {}
        plan = decisions(settings, journal, manifest, order, uploads=uploads)
        async for chunk in checked_decisions(plan, settings.source):
            for d in chunk:
                _count(summary, d, examples)
    finally:
        if journal is not None:
            await journal.close()
    if credentials is not None:
        await _price(settings, credentials, summary)
    return summary


def _count(summary: PlanSummary, d: Decision, examples: int) -> None:
    summary.counts[d.plan] = summary.counts.get(d.plan, 0) + 1
    shown = summary.examples.setdefault(d.plan, [])
    if len(shown) < examples:
        shown.append(d.rel)
    if d.reason:
        summary.reasons[d.rel] = (d.plan, d.reason)
    if d.file is not None:
        file = d.file
        summary.bytes_to_upload += file.size
        summary.places[(file.area.casefold(), file.drawing_set.casefold(), file.review)] += 1
        if file.review:
            summary.reviewed += 1
        else:
            summary.numbers.append((file.area.casefold(), file.number.casefold()))
    if d.uploaded is not None:
        summary.resumed += 1
        item = d.uploaded
        summary.places[(str(item.target.area_id), str(item.target.set_id), item.file.review)] += 1


async def _price(settings: Settings, credentials: Credentials, summary: PlanSummary) -> None:
    """Read the areas, sets, drawings and the rate-limit headers; write nothing."""
    async with aiohttp.ClientSession() as session:
        client = ProcoreClient(settings.procore, credentials, session)
        project = settings.procore.project_id
        areas, sets = await client.drawing_areas(), await client.drawing_sets()
        notes = []
        existing: set[tuple[str, str]] = set()
        for name in sorted({area for area, _ in summary.numbers}):
            try:
                area = area_in(areas, name, project)
            except ConfigError as exc:
                notes.append(f"{exc}: its files would fail.")
                continue
            existing |= {
                (name, d.number.casefold()) async for page in client.drawings(area.id) for d in page
            }
        for set_name in sorted({s for _, s, _ in summary.places if not s.isdigit()}):
            try:
                if set_in(sets, set_name, settings.target.create_missing_set, project) is None:
                    notes.append(f"drawing set {set_name!r} would be created (1 request).")
            except ConfigError as exc:
                notes.append(f"{exc}: its files would fail.")
        summary.cost = plan_cost(
            summary.numbers,
            existing,
            summary.reviewed,
            summary.places.values(),
            settings.engine.batch_size,
        )
        budget = client.budget
        summary.cost_seconds = budget.seconds_for(summary.cost.by_endpoint())
        window = budget.window
        if window is None:
            notes.append("Procore sent no rate-limit headers.")
        else:
            notes.append(
                f"Rate limit: {window.remaining} of {window.limit} left, the window resets "
                f"in {max(0.0, window.reset - time.time()):.0f} s."
            )
            notes.append(
                "Procore counts each endpoint apart (its rate-limit headers show it): the "
                "endpoints are priced side by side."
                if budget.scope == "endpoint"
                else "Priced as one budget for every endpoint: no answer showed one per endpoint."
            )
        summary.budget_note = " ".join(notes)
