"""The engine: the SUT and QSL protocols, the schedule, the clock, the recorder and trace, and
the issue loops of the timed run, the pilot, warm-up and accuracy pass."""

from loadgen.engine.query import IndexQSL, QuerySampleLibrary, SampleBatch, SystemUnderTest
from loadgen.engine.trace import NOT_YET, Trace

__all__ = ["NOT_YET", "IndexQSL", "QuerySampleLibrary", "SampleBatch", "SystemUnderTest", "Trace"]
