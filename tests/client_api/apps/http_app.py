"""An HTTP app in the style of QuecPython's request examples: GET a JSON document, POST a
reading, PUT a setting, HEAD a resource.

Usage (client_api run): http_app.py <base-url>
"""

import sys

import checkNet
import request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://api.example.com"

checkNet.waitNetworkReady(30)
response = request.get(BASE + "/data.json")
print("get", response.status_code, response.json()["temp"])
response = request.get(BASE + "/hello")
for chunk in response.text:
    print("text", chunk)
response = request.post(BASE + "/echo", json={"temp": 22})
print("post", response.status_code, b"".join(response.content).decode())
response = request.put(BASE + "/echo", data="mode=eco", headers={"X-Device": "quec-dev-1"})
print("put", response.status_code, b"".join(response.content).decode())
response = request.head(BASE + "/hello")
print("head", response.status_code, response.headers.get("Content-Length"))
