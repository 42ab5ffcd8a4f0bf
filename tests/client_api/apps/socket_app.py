"""A TCP and UDP client in the style of QuecPython's usocket examples: resolve a public host,
connect, send, receive the echo, then a UDP exchange and a timeout.

Usage (client_api run): socket_app.py [host] [tcp_port] [udp_port]
"""

import sys

import checkNet
import usocket
import utime

HOST = sys.argv[1] if len(sys.argv) > 1 else "api.example.com"
TCP_PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 7
UDP_PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 7

checkNet.waitNetworkReady(30)

# TCP: QuecPython's "TCP client" example shape.
sock = usocket.socket(usocket.AF_INET, usocket.SOCK_STREAM, usocket.IPPROTO_TCP)
sockaddr = usocket.getaddrinfo(HOST, TCP_PORT)[0][-1]
print("resolved", sockaddr[0])
sock.connect(sockaddr)
print("state", sock.getsocketsta())
payload = b"GET / quecpython\r\n" + bytes(range(256))
sock.send(payload)
sock.settimeout(10)
received = b""
while len(received) < len(payload):
    chunk = sock.recv(1024)
    if not chunk:
        break
    received += chunk
print("tcp echo", received == payload, len(received))
sock.close()

# UDP: an unconnected socket, sendto and recvfrom.
udp = usocket.socket(usocket.AF_INET, usocket.SOCK_DGRAM)
target = usocket.getaddrinfo(HOST, UDP_PORT)[0][-1]
udp.sendto(b"hello udp", target)
udp.settimeout(10)
data, source = udp.recvfrom(512)
print("udp", data, source[1] != 0)
udp.settimeout(0.5)
started = utime.ticks_ms()
try:
    udp.recv(512)
    print("udp unexpected data")
except OSError as error:
    print("udp timeout", error.args[0])
udp.close()

try:
    usocket.getaddrinfo("nowhere.example.com", 80)
except OSError as error:
    print("dns error", error.args[0])
print("done")
