"""Matching: accents and case, several words, prefixes, typos, literal metacharacters."""

from __future__ import annotations

from tests.plugins.search.conftest import Search, snapshot


async def test_accents_and_case_are_ignored(search: Search) -> None:
    await search.create(snapshot("Café Crème Catering"), snapshot("Plumbing"))
    assert await search.names("cafe") == ["Café Crème Catering"]
    assert await search.names("CRÈME") == ["Café Crème Catering"]
    assert await search.names("caf") == ["Café Crème Catering"]


async def test_all_words_must_match_and_the_last_is_a_prefix(search: Search) -> None:
    await search.create(
        snapshot("Deep house cleaning"),
        snapshot("House painting"),
        snapshot("Window cleaning", description="also flats"),
    )
    assert sorted(await search.names("house clean")) == ["Deep house cleaning"]
    assert await search.names("clean house") == []  # "clean" is not the last word
    assert sorted(await search.names("cleaning")) == ["Deep house cleaning", "Window cleaning"]


async def test_typos_like_meilisearch(search: Search) -> None:
    await search.create(
        snapshot("Emergency plumber"),
        snapshot("Certified electrician"),
        snapshot("Dog walk"),
    )
    assert await search.names("plumer") == ["Emergency plumber"]  # one deletion
    assert await search.names("plubmer") == ["Emergency plumber"]  # a transposition
    assert await search.names("electrican") == ["Certified electrician"]
    assert await search.names("elecrtican") == ["Certified electrician"]  # 2 typos, 10 chars
    assert await search.names("dig") == []  # 3 letters: no typo allowed
    assert await search.names("plmer") == []  # 5 letters: one typo, this is two


async def test_ranking_exact_then_prefix_then_typo_name_above_description(search: Search) -> None:
    await search.create(
        snapshot("Garden care", description="we also paint"),
        snapshot("Painter"),
        snapshot("Paint studio"),
        snapshot("Pant tailoring"),
        snapshot("Roof work", description="painting too"),
    )
    body = await search.get("/services", query="paint")
    names = [hit["name"] for hit in body["items"]]
    assert names == ["Paint studio", "Garden care", "Painter", "Roof work", "Pant tailoring"]
    assert body["total"] == 5
    assert await search.names("paint", sortOrder="asc") == names[::-1]
    assert await search.names("paint", sortOrder="asc", limit=2, page=2) == names[::-1][2:4]


async def test_regex_metacharacters_are_literal(search: Search) -> None:
    await search.create(snapshot("C++ tutoring (advanced)"), snapshot("Yoga"))
    for query in (".*", "(", "[a-z]+", "^$", "\\", "%", "$where", "*"):
        body = await search.get("/services", query=query)
        assert body["total"] == 0, query
    assert await search.names("c++ tutoring") == ["C++ tutoring (advanced)"]
    assert await search.names("(advanced)") == ["C++ tutoring (advanced)"]
