"""The emulator's starting records: built in, or read from a JSON seed file.

Seed file shape (every id is optional and assigned when left out):

    {"clients": [{"client_id": "...", "client_secret": "...", "user_id": 7}],
     "companies": [{"id": 1, "name": "...",
        "projects": [{"id": 2, "name": "...",
            "drawing_areas": [{"name": "...",
                "drawings": [{"number": "A-101", "title": "...", "discipline": "Architectural",
                              "sheet_number": "1"}]}],
            "drawing_sets": [{"name": "...", "date": "2026-01-15"}],
            "earlier_drawing_uploads": 5000}]}]}

A drawing's `sheet_number` is optional: several drawings of one number with different sheet
numbers are the sheets of one multi-sheet drawing. Clients without `companies` are connected to
every seeded company. The first client, company and project are the ones `bulkimport emulator`
prints. `earlier_drawing_uploads` gives a project the history of an old one (see
`plant_earlier_uploads`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .clock import iso
from .ids import new_ulid
from .world import (
    ApiClient,
    Company,
    Drawing,
    DrawingArea,
    DrawingSet,
    DrawingUpload,
    LogImport,
    Project,
    World,
)

# How far apart, in seconds, the earlier drawing uploads were made; the newest a step ago.
EARLIER_STEP = 60.0

DEFAULT_SEED: dict[str, Any] = {
    "clients": [
        {"client_id": "emulator-client-id", "client_secret": "emulator-client-secret"},
        # A second user, so tests can show that an upload is usable only by its owner.
        {"client_id": "emulator-other-client-id", "client_secret": "emulator-other-secret"},
    ],
    "companies": [
        {
            "name": "Emulated Builders Inc.",
            "projects": [
                {
                    "name": "Riverside Tower",
                    "drawing_areas": [{"name": "Building A"}, {"name": "Building B"}],
                    "drawing_sets": [
                        {"name": "Issued for Construction", "date": "2026-01-15"},
                        {"name": "Bid Set", "date": "2025-11-03"},
                    ],
                }
            ],
        }
    ],
}


def with_projects(seed: dict[str, Any], count: int) -> dict[str, Any]:
    """The seed with `count` projects in its first company: the first one's copies (its areas
    and sets, no drawings, no ids) added, for runs that feed several projects."""
    companies = seed["companies"]
    first = companies[0]
    original = first["projects"][0]
    copies = [
        {
            "name": f"{original['name']} {n}",
            "drawing_areas": [{"name": a["name"]} for a in original.get("drawing_areas", [])],
            "drawing_sets": [
                {k: v for k, v in s.items() if k != "id"} for s in original.get("drawing_sets", [])
            ],
        }
        for n in range(len(first["projects"]) + 1, count + 1)
    ]
    company = {**first, "projects": [*first["projects"], *copies]}
    return {**seed, "companies": [company, *companies[1:]]}


class SeedError(ValueError):
    """The seed file cannot be read or does not have the documented shape."""


def load_seed_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SeedError(f"cannot read seed file {path}: {exc}") from exc
    if not isinstance(data, dict) or not data.get("companies") or not data.get("clients"):
        raise SeedError(f"seed file {path} needs non-empty 'clients' and 'companies' lists")
    return data


def plant(world: World, seed: dict[str, Any], earlier_drawing_uploads: int = 0) -> None:
    """Create the seed's records in `world`, and `earlier_drawing_uploads` more drawing uploads
    in the first project than the seed gives it."""
    try:
        earlier = _plant(world, seed)
        if earlier_drawing_uploads and earlier:
            earlier[0] = (earlier[0][0], earlier[0][1] + earlier_drawing_uploads)
        for project, count in earlier:
            plant_earlier_uploads(world, project, count)
    except (KeyError, TypeError, ValueError) as exc:
        raise SeedError(f"seed data has a bad entry: {exc!r}") from exc


def plant_earlier_uploads(world: World, project: Project, count: int) -> None:
    """`count` drawing uploads the project had before the emulator started, so that listing
    drawing uploads costs what it costs on an old project (the List has no filter: a client
    pages through all of them). Each is processed (`reviewed`) and holds one drawing log
    import, made by the first client's user a minute before the next, in the project's first
    area and set. They are history only: their sheets are not in the drawing log (seed
    drawings for that), and the List gives them before any upload made later (it lists
    drawing uploads in the order they were made)."""
    if count < 0:
        raise ValueError(f"earlier_drawing_uploads must not be negative, got {count}")
    if not count:
        return
    sets = world.sets_of(project.id)
    if not sets:
        raise ValueError(f"earlier drawing uploads need a drawing set in project {project.id}")
    areas = world.areas_of(project.id)
    user_id = next(iter(world.clients.values())).user_id
    now = world.clock.now()
    for n in range(count):
        made = now - (count - n) * EARLIER_STEP
        upload = DrawingUpload(
            id=world.next_id(),
            project_id=project.id,
            company_id=project.company_id,
            created_by_id=user_id,
            created_at=made,
            drawing_area_id=areas[0].id if areas else None,
            drawing_set_id=sets[0].id,
            drawing_number_contains_revision=False,
            get_info_from_filename=True,
            imports=[
                LogImport(
                    id=world.next_id(),
                    upload_uuid=new_ulid(made),
                    filename=f"earlier-{n + 1:06d}.pdf",
                    drawing_set_id=sets[0].id,
                    drawing_date=iso(made)[:10],
                    received_date=None,
                    default_revision="0",
                    drawing_id=None,
                    custom_fields={},
                )
            ],
            idempotency_token=None,
            api_version="v1.1",
            outcome="reviewed",
            settled=True,
        )
        world.drawing_uploads[upload.id] = upload


def _plant(world: World, seed: dict[str, Any]) -> list[tuple[Project, int]]:
    """The seed's companies, projects, areas, drawings, sets and clients; each project with
    the number of earlier drawing uploads the seed gives it, planted once the clients are."""
    now = world.clock.now()
    earlier: list[tuple[Project, int]] = []
    for c in seed["companies"]:
        company = Company(id=int(c.get("id") or world.next_id()), name=str(c["name"]))
        world.companies[company.id] = company
        for p in c.get("projects", []):
            project = Project(
                id=int(p.get("id") or world.next_id()), company_id=company.id, name=str(p["name"])
            )
            world.projects[project.id] = project
            earlier.append((project, int(p.get("earlier_drawing_uploads") or 0)))
            for a in p.get("drawing_areas", []):
                area = DrawingArea(
                    id=int(a.get("id") or world.next_id()),
                    project_id=project.id,
                    name=str(a["name"]),
                    created_at=now,
                )
                world.areas[area.id] = area
                for d in a.get("drawings", []):
                    world.add_drawing(
                        Drawing(
                            id=int(d.get("id") or world.next_id()),
                            area_id=area.id,
                            number=str(d["number"]),
                            title=d.get("title"),
                            discipline=world.discipline(project.id, str(d["discipline"])),
                            sheet_number=None
                            if d.get("sheet_number") in (None, "")
                            else str(d["sheet_number"]),
                        )
                    )
            for position, s in enumerate(p.get("drawing_sets", [])):
                drawing_set = DrawingSet(
                    id=int(s.get("id") or world.next_id()),
                    project_id=project.id,
                    name=str(s["name"]),
                    date=s.get("date"),
                    position=position,
                    created_at=now,
                )
                world.sets[drawing_set.id] = drawing_set
    all_companies = frozenset(world.companies)
    for user_offset, cl in enumerate(seed["clients"]):
        client = ApiClient(
            client_id=str(cl["client_id"]),
            client_secret=str(cl["client_secret"]),
            user_id=int(cl.get("user_id") or 2**33 + user_offset),
            company_ids=frozenset(int(i) for i in cl["companies"])
            if "companies" in cl
            else all_companies,
        )
        world.clients[client.client_id] = client
    return earlier


def summary(world: World) -> dict[str, Any]:
    """The first client, company and project, with that project's areas and sets, and the ids
    of every project of that company."""
    client = next(iter(world.clients.values()))
    project = next(iter(world.projects.values()))
    return {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "company_id": project.company_id,
        "project_id": project.id,
        "project_ids": [
            p.id for p in world.projects.values() if p.company_id == project.company_id
        ],
        "drawing_areas": [{"id": a.id, "name": a.name} for a in world.areas_of(project.id)],
        "drawing_sets": [{"id": s.id, "name": s.name} for s in world.sets_of(project.id)],
    }
