"""The emulator's starting records: built in, or read from a JSON seed file.

Seed file shape (every id is optional and assigned when left out):

    {"clients": [{"client_id": "...", "client_secret": "...", "user_id": 7}],
     "companies": [{"id": 1, "name": "...",
        "projects": [{"id": 2, "name": "...",
            "drawing_areas": [{"name": "...",
                "drawings": [{"number": "A-101", "title": "...", "discipline": "Architectural",
                              "sheet_number": "1"}]}],
            "drawing_sets": [{"name": "...", "date": "2026-01-15"}]}]}]}

A drawing's `sheet_number` is optional: several drawings of one number with different sheet
numbers are the sheets of one multi-sheet drawing. Clients without `companies` are connected to every seeded company. The first client, company and
project are the ones `bulkimport emulator` prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .world import ApiClient, Company, Drawing, DrawingArea, DrawingSet, Project, World

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


def plant(world: World, seed: dict[str, Any]) -> None:
    """Create the seed's records in `world`."""
    try:
        _plant(world, seed)
    except (KeyError, TypeError, ValueError) as exc:
        raise SeedError(f"seed data has a bad entry: {exc!r}") from exc


def _plant(world: World, seed: dict[str, Any]) -> None:
    now = world.clock.now()
    for c in seed["companies"]:
        company = Company(id=int(c.get("id") or world.next_id()), name=str(c["name"]))
        world.companies[company.id] = company
        for p in c.get("projects", []):
            project = Project(
                id=int(p.get("id") or world.next_id()), company_id=company.id, name=str(p["name"])
            )
            world.projects[project.id] = project
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


def summary(world: World) -> dict[str, Any]:
    """The first client, company and project, with that project's areas and sets."""
    client = next(iter(world.clients.values()))
    project = next(iter(world.projects.values()))
    return {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "company_id": project.company_id,
        "project_id": project.id,
        "drawing_areas": [{"id": a.id, "name": a.name} for a in world.areas_of(project.id)],
        "drawing_sets": [{"id": s.id, "name": s.name} for s in world.sets_of(project.id)],
    }
