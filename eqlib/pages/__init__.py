"""One module per page of the book: the page's protocol, its computation (one call), its findings, the texts
glued into its prose, its tables' rows and its figures. The page's notebook calls it; the modules below
``eqlib.pages`` (data, models, training, symmetry fitting, the metric) know nothing of pages.
"""
