"""What the API takes and shows, one module per area: the request (``…In``) and response (``…Public``)
models, each listing its fields one by one so that a column added to a table never leaks."""
