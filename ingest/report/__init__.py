"""What a run shows its user: report.html (:mod:`.report_html`, fed while
the run writes by :mod:`.report_feed`) and ``ingest explain``
(:mod:`.explain`)."""
