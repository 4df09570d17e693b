"""Pure renderers: a finished run in, text out. Writing files happens at the command line."""

from reports.chrome_trace import render_chrome_trace
from reports.summary import render_console, render_summary

__all__ = ["render_chrome_trace", "render_console", "render_summary"]
