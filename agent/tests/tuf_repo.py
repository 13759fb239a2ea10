"""Builds a TUF repository with python-tuf, an implementation independent of tough, so the
agent's updater is tested against metadata it did not write itself.

    tuf_repo.py OUTDIR TARGET_NAME TARGET_FILE VERSION [TARGET_NAME TARGET_FILE VERSION ...]

Writes Fleet's layout: metadata at OUTDIR (1.root.json, root.json, targets.json, snapshot.json,
timestamp.json; no consistent snapshots, as `fleetctl updates init` makes them) and each target
at OUTDIR/targets/TARGET_NAME, with {"version": VERSION} as its custom metadata (none when
VERSION is "-"). One ed25519 key signs every role. The agent's tests publish one target; the
browser tests publish the three a .deb needs.
"""

import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer


def main() -> None:
    outdir, published = sys.argv[1], sys.argv[2:]
    if not published or len(published) % 3:
        sys.exit(__doc__)
    published = [published[i : i + 3] for i in range(0, len(published), 3)]
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)

    # Whole seconds: tough writes and reads them; fractional expiry times are where the two
    # implementations have disagreed.
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=7)
    signer = CryptoSigner.generate_ed25519()

    root = Metadata(Root(expires=expires, consistent_snapshot=False))
    for role in ("root", "targets", "snapshot", "timestamp"):
        root.signed.add_key(signer.public_key, role)

    targets = Metadata(Targets(expires=expires))
    for target_name, target_file, version in published:
        target = TargetFile.from_data(target_name, Path(target_file).read_bytes(), ["sha256"])
        if version != "-":
            target.unrecognized_fields["custom"] = {"version": version}
        targets.signed.targets[target_name] = target

    serializer = JSONSerializer(compact=False)
    targets.sign(signer)
    targets_bytes = targets.to_bytes(serializer)

    snapshot = Metadata(Snapshot(expires=expires))
    snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
    snapshot.sign(signer)
    snapshot_bytes = snapshot.to_bytes(serializer)

    timestamp = Metadata(Timestamp(expires=expires))
    timestamp.signed.snapshot_meta = MetaFile.from_data(
        snapshot.signed.version, snapshot_bytes, ["sha256"]
    )
    timestamp.sign(signer)

    root.sign(signer)
    root_bytes = root.to_bytes(serializer)
    (out / f"{root.signed.version}.root.json").write_bytes(root_bytes)
    (out / "root.json").write_bytes(root_bytes)
    (out / "targets.json").write_bytes(targets_bytes)
    (out / "snapshot.json").write_bytes(snapshot_bytes)
    (out / "timestamp.json").write_bytes(timestamp.to_bytes(serializer))

    for target_name, target_file, _ in published:
        destination = out / "targets" / target_name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target_file, destination)


if __name__ == "__main__":
    main()
