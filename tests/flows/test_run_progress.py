"""The run's progress artifact moves with every page, not only when an entity finishes."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterId

from tandem.mapping import Direction
from tasks.report import RunProgress


def read(progress: RunProgress) -> tuple[float, str]:
    """The progress artifact's percentage and description, as the flow run's Artifacts tab shows them."""
    with get_client(sync_client=True) as client:
        of_run = ArtifactFilter(id=ArtifactFilterId(any_=[progress.artifact_id]))
        [artifact] = client.read_artifacts(artifact_filter=of_run)
    return float(artifact.data), str(artifact.description)  # type: ignore[arg-type]


def test_progress_advances_per_page_and_names_the_direction() -> None:
    progress = RunProgress("progress-test", total_entities=2, min_interval=0.0)
    assert read(progress) == (0.0, "progress-test: 0 of 2 entities done")

    progress.page_done("customer", Direction.TO_CRM, 400, 1_000)
    percent, description = read(progress)
    assert percent == 20.0  # 400 of 1,000 customers, one of two entities
    assert description == "0 of 2 entities done; customer ERP → Salesforce: 400 of 1,000 records"

    progress.page_done("customer", Direction.TO_CRM, 600, None)  # later pages need not repeat the total
    assert read(progress) == (50.0, "0 of 2 entities done; customer ERP → Salesforce: 1,000 of 1,000 records")

    progress.entities_done(1)
    progress.page_done("contact", Direction.TO_ERP, 50, None)  # a read that said no total moves the line only
    assert read(progress) == (50.0, "1 of 2 entities done; contact Salesforce → ERP: 50 records")

    progress.entities_done(2)
    assert read(progress) == (100.0, "2 of 2 entities done")


def test_pages_update_the_artifact_at_most_once_a_min_interval_but_an_entitys_end_always() -> None:
    progress = RunProgress("progress-throttled", total_entities=2, min_interval=3600.0)
    progress.page_done("customer", Direction.TO_CRM, 400, 1_000)  # the first page is sent
    progress.page_done("customer", Direction.TO_CRM, 300, None)  # within the interval: counted, not sent
    assert read(progress) == (20.0, "0 of 2 entities done; customer ERP → Salesforce: 400 of 1,000 records")
    progress.entities_done(1)
    assert read(progress) == (50.0, "1 of 2 entities done")
