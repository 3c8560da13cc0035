"""report.html (issue 13): a sweep's page, from Jinja2 templates shipped with this package.

Loads Jinja2: imported only where a page is made (a sweep's end, ``agentd report
--html``), never by the read commands that show text.
"""

from agentd.daemon.output.html.page import render_document, render_html

__all__ = ["render_document", "render_html"]
