"""The app's tables are backed by the changelog topics the registry declares (no broker)."""

from schemas import ALL_TOPICS, CHANGELOG_TOPICS, DEAD_LETTER, STACK_TOPICS, VIDEO_UPLOADED
from services.figures.app import FiguresApp
from services.figures.observe import VIDEO_TOPICS
from services.figures.settings import FiguresSettings


def test_each_table_uses_a_compacted_registry_changelog_with_its_sources_partitions():
    figures = FiguresApp(FiguresSettings())
    tables = {t.name: t for t in (figures.owners, figures.windows, figures.dead_letters)}
    used = {name: table.changelog_topic.get_topic_name() for name, table in tables.items()}
    by_name = {t.name: t for t in CHANGELOG_TOPICS}
    assert set(used.values()) == set(by_name)
    for name, topic_name in used.items():
        topic = by_name[topic_name]
        assert topic.compacted and topic.writer == "figures" and topic in STACK_TOPICS
        assert tables[name].partitions == topic.partitions
        sources = (DEAD_LETTER,) if name == "dead-letters" else VIDEO_TOPICS
        assert {s.partitions for s in sources} == {topic.partitions}, name
    assert VIDEO_UPLOADED in VIDEO_TOPICS


def test_the_app_reads_exactly_the_topics_the_registry_names_it_a_reader_of():
    figures = FiguresApp(FiguresSettings())
    read = {name for agent in figures.app.agents.values() for name in agent.channel.topics}
    assert read == {t.name for t in ALL_TOPICS if "figures" in t.readers}
    assert len(read) == 7
