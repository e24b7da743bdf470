#!/usr/bin/env python3
"""Reads the events event_receiver.py wrote (one JSON line each) for events_e2e.sh.

  check_events.py FILE count            number of events received
  check_events.py FILE sequence REPO    the repository's events in the order received, one token each:
                                        <action>-<manifest|blob>[:tag]; a tag delete is delete-tag:TAG,
                                        a manifest or blob delete (digest only) is delete
  check_events.py FILE verify TOKEN     every event received once (no id twice), each POST typed
                                        application/vnd.docker.distribution.events.v1+json with
                                        `Authorization: Bearer TOKEN`, distribution's fields present
"""
import json
import sys

path, command = sys.argv[1], sys.argv[2]
try:
    records = [json.loads(line) for line in open(path)]
except FileNotFoundError:
    records = []

if command == "count":
    print(len(records))
elif command == "sequence":
    tokens = []
    for record in records:
        event = record["event"]
        target = event["target"]
        if target.get("repository") != sys.argv[3]:
            continue
        if "digest" not in target:
            tokens.append("delete-tag:" + target.get("tag", "?"))
            continue
        if "mediaType" not in target:
            tokens.append(event["action"])  # a manifest or blob delete: only digest and repository, as distribution
            continue
        kind = "blob" if target["mediaType"] == "application/octet-stream" else "manifest"
        tokens.append(event["action"] + "-" + kind + (":" + target["tag"] if "tag" in target else ""))
    print(" ".join(tokens))
elif command == "verify":
    ids = [record["event"]["id"] for record in records]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        sys.exit("events received more than once: %s" % duplicates)
    for record in records:
        event = record["event"]
        if record["contentType"] != "application/vnd.docker.distribution.events.v1+json":
            sys.exit("Content-Type %r" % record["contentType"])
        if record["authorization"] != "Bearer " + sys.argv[3]:
            sys.exit("Authorization %r" % record["authorization"])
        missing = {"id", "timestamp", "action", "target", "request", "actor", "source"} - set(event)
        missing |= {"request." + k for k in ("id", "addr", "host", "method", "useragent") if k not in event["request"]}
        missing |= {"source." + k for k in ("addr", "instanceID") if k not in event["source"]}
        if event["action"] != "delete":
            missing |= {"target." + k for k in ("mediaType", "digest", "size", "length", "repository", "url")
                        if k not in event["target"]}
        if missing:
            sys.exit("event %s lacks %s" % (event["id"], sorted(missing)))
    print("%d events, each once, all well-formed" % len(records))
else:
    sys.exit("unknown command " + command)
