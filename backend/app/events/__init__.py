"""Live event streams (SSE): one change feed per replica, fanned out to its subscribers.

Owns the change feed (the table's DynamoDB stream, read by one reader per replica while anyone
watches), the live tail of running builds' logs (one per task per replica), and the fan-out of
both to `GET /api/v1/tasks/{id}/events` and `GET /api/workspaces/{id}/events` subscribers.
It never writes storage: what it shows is what the pipeline wrote.

- `frames`: the SSE frames and the task stream's resumable cursor (the event id).
- `feed`: the change-stream reader.
- `channels`: what one task's or workspace's subscribers share; bounded subscriber queues.
- `logtail`: a running build's log, read from the build service from an offset.
- `hub`: channels by task and workspace, fed by the feed; what the routes subscribe to.
- `response`: the text/event-stream response (heartbeats, cut-off of slow clients).
- `router`: the two routes.
"""
