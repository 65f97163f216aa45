"""The one adapter between a Snakemake `script:` and the package.

Every rule script has the same shape, and holds no logic of its own:

    from rewild.job import Job, run

    def main(job: Job) -> None:
        stage.run(shard_path=job.input.shard, ..., config_hash=job.config_hash)

    if __name__ == "__main__":
        run(snakemake, main)  # noqa: F821 (the object Snakemake injects)

`run` configures logging once for the process (to the rule's `log:` file, at `run.log_level`), optionally keeps
the job's compute pools to its `threads`, calls `main`, and writes the provenance sidecar when the rule declares
an output named `provenance`. The `__main__` guard matters: under the `spawn` start method a child process
re-imports the main module, and an unguarded call would run the whole job again inside the child.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .io import limit_cpu_threads, now_iso, optional_input, setup_logging, snakemake_provenance


@dataclass(frozen=True)
class Job:
    """What a rule script needs from the Snakemake object, unpacked once."""

    rule: str
    input: Any
    output: Any
    params: Any
    wildcards: Any
    threads: int
    config: Mapping[str, Any]
    log: str | None
    config_hash: str | None
    started: str
    # the folder of the rule's script in the workflow checkout (Snakemake runs a copy from .snakemake/scripts);
    # None under a test's stand-in for the Snakemake object
    scriptdir: str | None

    def optional(self, name: str) -> str | None:
        """An input that an input function may leave empty (a demo model folder, a held-out split)."""
        return optional_input(getattr(self.input, name, None))


def from_snakemake(smk: Any) -> Job:
    return Job(
        rule=str(smk.rule),
        input=smk.input,
        output=smk.output,
        params=smk.params,
        wildcards=smk.wildcards,
        threads=int(smk.threads),
        config=smk.config,
        log=str(smk.log[0]) if len(smk.log) else None,
        config_hash=getattr(smk.params, "config_hash", None),
        started=now_iso(),
        scriptdir=str(smk.scriptdir) if hasattr(smk, "scriptdir") else None,
    )


def log_level(config: Mapping[str, Any]) -> str:
    return config["run"]["log_level"]


def run(smk: Any, main: Callable[[Job], Any], *, limit_threads: bool = False) -> Any:
    """Run one rule script's `main` on the Snakemake object `smk` (see the module docstring)."""
    job = from_snakemake(smk)
    setup_logging(job.log, level=log_level(job.config))
    if limit_threads:
        limit_cpu_threads(job.threads)
    result = main(job)
    if hasattr(smk.output, "provenance"):  # a Namedlist: names are attributes, `in` tests values
        snakemake_provenance(smk, job.started)
    return result
