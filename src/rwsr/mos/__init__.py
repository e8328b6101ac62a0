"""Mean opinion score (MOS) studies: the paper's subjective test as a small web app.

`build` turns a reference folder and method folders into a self-contained SQLite study,
`study` is what raters do to it, `app`/`server` put it on the web, `report` turns the
ratings into MOS tables and a chart. Import the submodule you need; nothing heavy loads here.
"""
