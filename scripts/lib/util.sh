# Small helpers shared by the bench scripts' libraries (sourced, not run).

# N free loopback ports, printed on one line.
free_ports() {
    python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))' "$1"
}

# json_field NAME: the top-level field NAME of the JSON object on stdin.
json_field() {
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# figure FILE KEY: the value of a `key value` line of load's output.
figure() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
