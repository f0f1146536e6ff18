-- POST a ~300-byte JSON body (the ceiling server parses and discards it).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"id":"urn:ngsi-ld:ParkingSpot:bench:0000001","type":"ParkingSpot",' ..
  '"status":{"type":"Property","value":"occupied","observedAt":"2026-11-26T10:00:00Z"},' ..
  '"occupancy":{"type":"Property","value":42},"name":{"type":"Property","value":"A-13"},' ..
  '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[128.889,35.228]}}}'
