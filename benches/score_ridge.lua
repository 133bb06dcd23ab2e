-- wrk request for the load scripts (http_load.sh, telemetry_overhead.sh):
-- POST /score with one diabetes-ridge row, the contract's example.
wrk.method = "POST"
wrk.body = '{"data": [[10,9,8,7,6,5,4,3,2,1]]}'
wrk.headers["Content-Type"] = "application/json"
