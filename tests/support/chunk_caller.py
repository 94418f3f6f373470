"""A separate OS process that calls get_next_chunk_number N times and prints each number.

Usage: python chunk_caller.py DATABASE_URL BACKFILL_STATE_ID N
"""

import sys

import psycopg

url, state_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with psycopg.connect(url, autocommit=True) as conn:
    print("ready", flush=True)
    sys.stdin.readline()  # start together: the parent releases every process at once
    for _ in range(count):
        (number,) = conn.execute("SELECT get_next_chunk_number(%s)", (state_id,)).fetchone()
        print(number)
