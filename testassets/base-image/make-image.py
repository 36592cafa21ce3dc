#!/usr/bin/env python3
"""Builds tiny, deterministic container images without Docker or internet, and pushes them with skopeo.

One image per platform (a gzip'd tar layer holding /etc/multiarch-platform, and a config naming the platform),
optionally stitched into an OCI index or Docker manifest list, optionally with a BuildKit-style attestation.
The same arguments always give the same bytes and digests.

  make-image.py --dest 127.0.0.1:5000/base:1.0 --platforms linux/amd64,linux/arm64/v8,linux/arm/v7 [--format oci|docker]
                [--per-platform-tags] [--attestation] [--tls-verify false] [--creds user:pass] [--cert-dir DIR]
"""
import argparse, gzip, hashlib, io, json, os, subprocess, sys, tarfile, tempfile

OCI = {"manifest": "application/vnd.oci.image.manifest.v1+json", "index": "application/vnd.oci.image.index.v1+json",
       "config": "application/vnd.oci.image.config.v1+json", "layer": "application/vnd.oci.image.layer.v1.tar+gzip"}
DOCKER = {"manifest": "application/vnd.docker.distribution.manifest.v2+json",
          "index": "application/vnd.docker.distribution.manifest.list.v2+json",
          "config": "application/vnd.docker.container.image.v1+json", "layer": "application/vnd.docker.image.rootfs.diff.tar.gzip"}


def sha(data): return "sha256:" + hashlib.sha256(data).hexdigest()


def dumps(obj): return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()


class Layout:
    """An OCI image layout directory that skopeo can copy from."""
    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')

    def add(self, data):
        digest = sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return {"digest": digest, "size": len(data)}

    def set_root(self, media_type, blob, name):
        index = {"schemaVersion": 2, "manifests": [{"mediaType": media_type, **blob, "annotations": {"org.opencontainers.image.ref.name": name}}]}
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(index, f)


def layer_bytes(text):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = text.encode()
        info = tarfile.TarInfo("etc/multiarch-platform")
        info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, filename="") as f:
        f.write(tar_bytes)
    return tar_bytes, gz.getvalue()


def make_image(layout, platform, types, seed, labels):
    parts = platform.split("/")
    os_name, arch = parts[0], parts[1]
    variant = parts[2] if len(parts) > 2 else None
    tar_bytes, gz = layer_bytes(f"{platform} {seed}\n")
    layer = layout.add(gz)
    config = {"architecture": arch, "os": os_name}
    if variant:
        config["variant"] = variant
    if os_name == "windows":
        config["os.version"] = "10.0.20348.2113"
        config["os.features"] = ["win32k"]
    config.update({"created": "2024-01-01T00:00:00Z",
                   "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"], "Labels": labels or None},
                   "rootfs": {"type": "layers", "diff_ids": [sha(tar_bytes)]},
                   "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "make-image.py " + seed}]})
    if not labels:
        del config["config"]["Labels"]
    config_blob = layout.add(dumps(config))
    manifest = {"schemaVersion": 2, "mediaType": types["manifest"],
                "config": {"mediaType": types["config"], **config_blob},
                "layers": [{"mediaType": types["layer"], **layer}]}
    blob = layout.add(dumps(manifest))
    desc = {"mediaType": types["manifest"], **blob, "platform": {"architecture": arch, "os": os_name}}
    if os_name == "windows":
        desc["platform"]["os.version"] = config["os.version"]
        desc["platform"]["os.features"] = config["os.features"]
    if variant:
        desc["platform"]["variant"] = variant
    return desc


def make_attestation(layout, subject):
    statement = dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document",
                       "subject": [{"name": "image", "digest": {"sha256": subject["digest"][7:]}}], "predicate": {}})
    layer = layout.add(statement)
    config = layout.add(dumps({"architecture": "unknown", "os": "unknown", "config": {}, "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}))
    manifest = {"schemaVersion": 2, "mediaType": OCI["manifest"], "config": {"mediaType": OCI["config"], **config},
                "layers": [{"mediaType": "application/vnd.in-toto+json", **layer, "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"}}]}
    blob = layout.add(dumps(manifest))
    return {"mediaType": OCI["manifest"], **blob,
            "annotations": {"vnd.docker.reference.digest": subject["digest"], "vnd.docker.reference.type": "attestation-manifest"},
            "platform": {"architecture": "unknown", "os": "unknown"}}


def skopeo_copy(layout_dir, dest, args):
    """Pushes the layout's root (index.json) through a dir: copy of the layout. skopeo 1.9 reads an OCI layout only when
    index.json names an OCI media type, so it cannot push a Docker manifest list from one; dir: takes each manifest's
    media type from the manifest itself and copies the bytes unchanged."""
    with open(os.path.join(layout_dir, "index.json")) as f:
        root = json.load(f)["manifests"][0]
    blobs = os.path.join(layout_dir, "blobs", "sha256")
    with tempfile.TemporaryDirectory(dir=layout_dir) as src:
        with open(os.path.join(src, "version"), "w") as f:
            f.write("Directory Transport Version: 1.1\n")
        for name in os.listdir(blobs):
            os.link(os.path.join(blobs, name), os.path.join(src, name))
        with open(os.path.join(blobs, root["digest"][7:]), "rb") as f:
            root_bytes = f.read()
        with open(os.path.join(src, "manifest.json"), "wb") as f:
            f.write(root_bytes)
        for child in json.loads(root_bytes).get("manifests", []):
            os.link(os.path.join(blobs, child["digest"][7:]), os.path.join(src, child["digest"][7:] + ".manifest.json"))
        cmd = ["skopeo", "copy", "--all", "--preserve-digests", "--quiet"]
        if args.tls_verify is not None:
            cmd.append(f"--dest-tls-verify={args.tls_verify}")
        if args.creds:
            cmd += ["--dest-creds", args.creds]
        if args.cert_dir:
            cmd += ["--dest-cert-dir", args.cert_dir]
        cmd += [f"dir:{src}", f"docker://{dest}"]
        subprocess.run(cmd, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", required=True, help="registry/repository:tag")
    parser.add_argument("--platforms", default="linux/amd64,linux/arm64/v8,linux/arm/v7")
    parser.add_argument("--format", choices=["oci", "docker"], default="oci")
    parser.add_argument("--seed", default="base")
    parser.add_argument("--label", action="append", default=[], help="key=value label for every config")
    parser.add_argument("--per-platform-tags", action="store_true", help="also push <tag>-<os>-<arch>[-<variant>] single images")
    parser.add_argument("--single", action="store_true", help="push the first platform as a single image, not an index")
    parser.add_argument("--attestation", action="store_true")
    parser.add_argument("--tls-verify", choices=["true", "false"])
    parser.add_argument("--creds")
    parser.add_argument("--cert-dir")
    args = parser.parse_args()
    types = OCI if args.format == "oci" else DOCKER
    labels = dict(l.split("=", 1) for l in args.label)
    platforms = [p.strip() for p in args.platforms.replace(";", ",").split(",") if p.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(tmp)
        descs = [make_image(layout, p, types, args.seed, labels) for p in platforms]
        if args.single:
            layout.set_root(types["manifest"], {"digest": descs[0]["digest"], "size": descs[0]["size"]}, "root")
            skopeo_copy(tmp, args.dest, args)
            print(descs[0]["digest"])
            return
        manifests = list(descs)
        if args.attestation:
            manifests.append(make_attestation(layout, descs[0]))
        index = layout.add(dumps({"schemaVersion": 2, "mediaType": types["index"], "manifests": manifests}))
        layout.set_root(types["index"], index, "root")
        skopeo_copy(tmp, args.dest, args)
        print(index["digest"])
        if args.per_platform_tags:
            base = args.dest
            for desc, platform in zip(descs, platforms):
                single = Layout(os.path.join(tmp, "single-" + platform.replace("/", "-")))
                for name in os.listdir(os.path.join(tmp, "blobs", "sha256")):
                    os.link(os.path.join(tmp, "blobs", "sha256", name), os.path.join(single.path, "blobs", "sha256", name))
                single.set_root(types["manifest"], {"digest": desc["digest"], "size": desc["size"]}, "root")
                skopeo_copy(single.path, base + "-" + platform.replace("/", "-"), args)


if __name__ == "__main__":
    main()
