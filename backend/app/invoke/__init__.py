"""Calling a function: the invoke proxy, test invocations of a build, invocation figures.

Owns `/api/functions/{id}/invoke/{path}` (forwards to the endpoint the function's last deploy
reported), `POST /api/functions/{id}/test` (one run of a built component in the deploy
service's sandbox, through RuntimeClient) and `GET /api/functions/{id}/stats`. It never reaches
into the runtime's files or processes: the endpoint URL and the deploy service's contract
(docs/contract.md) are all it knows of where functions run. Subscribe to invocations with
`app.invoke.stats.on_invocation` (metrics do).
"""
