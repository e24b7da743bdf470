#!/usr/bin/env python3
"""Checks what a schema validator cannot see in deploy/kubernetes: that the pieces refer to each other.

Usage: kubernetes_refs.py DEPLOY_DIR

Every volumeMount names a volume; every ConfigMap and Secret a volume names is defined (configmap.yaml, the
kustomization's secretGenerator) with the keys the volume takes; probes and Services name the container's port;
Services select the pod; the StatefulSet's serviceName is a headless Service; the pod runs as the image's user
(deploy/Containerfile USER); SWREGISTRY_CONFIG is where the ConfigMap is mounted; the configuration's files
(TLS, htpasswd) are where their Secrets are mounted, and its store is on the claimed volume. Prints each finding,
exits 1 if any.
"""
import os
import posixpath
import re
import sys

import yaml

deploy = sys.argv[1]
kube = os.path.join(deploy, "kubernetes")
problems = []


def need(condition, message):
    print(("ok:      " if condition else "PROBLEM: ") + message)
    if not condition:
        problems.append(message)


kustomization = yaml.safe_load(open(os.path.join(kube, "kustomization.yaml")))
docs = []
for name in kustomization["resources"]:
    need(os.path.isfile(os.path.join(kube, name)), "kustomization resource %s exists" % name)
    docs += [d for d in yaml.safe_load_all(open(os.path.join(kube, name))) if d]

configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
secrets = {}
for generator in kustomization.get("secretGenerator", []):
    keys = set()
    for entry in generator.get("files", []):
        key, _, path = entry.partition("=")
        keys.add(key if path else posixpath.basename(key))
        need(posixpath.dirname(path or key) == "secrets",
             "secret %s reads %s from secrets/ (ignored by git)" % (generator["name"], path or key))
    secrets[generator["name"]] = keys
services = [d for d in docs if d["kind"] == "Service"]
statefulsets = [d for d in docs if d["kind"] == "StatefulSet"]
need(len(statefulsets) == 1, "one StatefulSet")
sts = statefulsets[0]
pod = sts["spec"]["template"]
spec = pod["spec"]
labels = pod["metadata"]["labels"]
need(all(labels.get(k) == v for k, v in sts["spec"]["selector"]["matchLabels"].items()),
     "the StatefulSet's selector matches its pod template")
containers = spec["containers"]
need(len(containers) == 1, "one container")
container = containers[0]
ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}

volumes = {v["name"]: v for v in spec.get("volumes", [])}
claims = {c["metadata"]["name"] for c in sts["spec"].get("volumeClaimTemplates", [])}
mounts = {}
for m in container.get("volumeMounts", []):
    need(m["name"] in volumes or m["name"] in claims, "volumeMount %s names a volume or claim" % m["name"])
    mounts[m["name"]] = m["mountPath"]
for name, volume in volumes.items():
    need(name in mounts, "volume %s is mounted" % name)
    if "configMap" in volume:
        cm = volume["configMap"]["name"]
        need(cm in configmaps, "volume %s: ConfigMap %s is defined" % (name, cm))
        for item in volume["configMap"].get("items", []):
            need(item["key"] in configmaps.get(cm, {}), "volume %s: ConfigMap %s has key %s" % (name, cm, item["key"]))
    if "secret" in volume:
        secret = volume["secret"]["secretName"]
        need(secret in secrets, "volume %s: Secret %s is generated" % (name, secret))
        for item in volume["secret"].get("items", []):
            need(item["key"] in secrets.get(secret, set()), "volume %s: Secret %s has key %s" % (name, secret, item["key"]))


def file_in(volume_name):
    """Paths of the files a ConfigMap or Secret volume puts in the container, by key."""
    volume = volumes[volume_name]
    source = volume.get("configMap") or volume.get("secret")
    return {item["key"]: posixpath.join(mounts[volume_name], item["path"]) for item in source.get("items", [])}


for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    get = container.get(probe, {}).get("httpGet", {})
    need(get.get("path") == path, "%s asks %s" % (probe, path))
    need(get.get("port") in ports, "%s port %s is a container port" % (probe, get.get("port")))

for service in services:
    selector = service["spec"]["selector"]
    need(all(labels.get(k) == v for k, v in selector.items()), "Service %s selects the pod" % service["metadata"]["name"])
    for port in service["spec"]["ports"]:
        need(port["targetPort"] in ports, "Service %s targets container port %s" % (service["metadata"]["name"], port["targetPort"]))
headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
need(sts["spec"]["serviceName"] in [s["metadata"]["name"] for s in headless], "serviceName is a headless Service")

user = re.search(r"^USER\s+(\d+):(\d+)\s*$", open(os.path.join(deploy, "Containerfile")).read(), re.M)
need(user is not None, "Containerfile has a numeric USER uid:gid")
context = spec.get("securityContext", {})
if user:
    need(str(context.get("runAsUser")) == user.group(1), "runAsUser is the image's uid %s" % user.group(1))
    need(str(context.get("runAsGroup")) == user.group(2), "runAsGroup is the image's gid %s" % user.group(2))
    need(str(context.get("fsGroup")) == user.group(2), "fsGroup is the image's gid (Secrets readable by the server)")

env = {e["name"]: e for e in container.get("env", [])}
config_volumes = [n for n, v in volumes.items() if "configMap" in v]
need(len(config_volumes) == 1, "one ConfigMap volume")
config_files = file_in(config_volumes[0])
config_path = env.get("SWREGISTRY_CONFIG", {}).get("value")
need(config_path in config_files.values(), "SWREGISTRY_CONFIG (%s) is the mounted ConfigMap file" % config_path)
config_key = [k for k, p in config_files.items() if p == config_path]
config_map = volumes[config_volumes[0]]["configMap"]["name"]
config = yaml.safe_load(configmaps[config_map][config_key[0]]) if config_key else {}

secret_files = {}
for name, volume in volumes.items():
    if "secret" in volume:
        secret_files.update({p: (volume["secret"]["secretName"], k) for k, p in file_in(name).items()})
for what, path in (("http.tls.certificate", config["http"]["tls"]["certificate"]),
                   ("http.tls.key", config["http"]["tls"]["key"]),
                   ("auth.htpasswd.path", config["auth"]["htpasswd"]["path"])):
    need(path in secret_files, "%s (%s) is a mounted Secret file %s" % (what, path, secret_files.get(path)))
root = config["storage"]["filesystem"]["rootdirectory"]
claim_mounts = [mounts[c] for c in claims if c in mounts]
need(any(root == m or root.startswith(m.rstrip("/") + "/") for m in claim_mounts),
     "storage root %s is on a claimed volume (%s)" % (root, ", ".join(claim_mounts)))
scheme = "HTTPS" if config["http"].get("tls") else "HTTP"
for probe in ("livenessProbe", "readinessProbe"):
    need(container[probe]["httpGet"].get("scheme", "HTTP") == scheme, "%s scheme is %s" % (probe, scheme))
address_port = int(str(config["http"]["addr"]).rsplit(":", 1)[1])
need(address_port in ports.values(), "http.addr's port %d is the container port" % address_port)

if problems:
    print("%d problems" % len(problems))
    sys.exit(1)
