#!/usr/bin/env python3
"""Accepts TCP connections on 127.0.0.1 and never answers: a server that stalls before the WebSocket
upgrade. Prints `port N`; exits when stdin closes."""
import socket
import sys
import threading

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print("port", listener.getsockname()[1], flush=True)
held = []


def accept():
    while True:
        connection, _ = listener.accept()
        held.append(connection)


threading.Thread(target=accept, daemon=True).start()
sys.stdin.read()
