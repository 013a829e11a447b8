"""billing: month close, invoices, PDFs and charts (issue: monthly billing)."""
