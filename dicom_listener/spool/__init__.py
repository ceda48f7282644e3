"""Durable on-disk spool: received instances, grouped by study, handed to the pipeline by rename.

Layout under the spool root (all on one filesystem, so every rename below is atomic):

    incoming/<StudyInstanceUID>/<SOPInstanceUID>.dcm   received, not yet claimed
    claimed/<StudyInstanceUID>/<SOPInstanceUID>.dcm    owned by the pipeline (see claim())
    quarantine/<name>.dcm + <name>.reason.json          refused data and why (no patient data)
    tmp/<owner>/                                        partial writes of one live Spool object
    index.sqlite3                                       SOP Instance UIDs ever stored (WAL, FULL)
    .lock                                               flock serialising spool mutations

Disk is the truth for *where* an instance is; the index is the truth for *whether it was seen*.
Nothing lives only in memory: a new Spool on the same root (after a crash or restart) re-scans
incoming/ and claimed/ and rebuilds anything the index is missing.

Store protocol and why the index insert comes *after* the rename
-----------------------------------------------------------------
store() runs these steps and the C-STORE handler acknowledges Success only after step 4:

    1. write file (preamble + file meta + data set bytes as received) to tmp/<owner>/, fsync it
       (store(): all at once; store_received(): the listener wrote it while the data set arrived,
       as a ReceivingFile, and its fsync comes here; the file's bytes are the same either way)
    2. rename it to incoming/<study>/<sop>.dcm, fsync the study folder (and incoming/ if the
       study folder was just created)
    3. insert the SOP Instance UID into the index (a committed WAL transaction, fsynced)
    4. return STORED -> the handler answers 0x0000

A crash (or power loss) between any two steps loses nothing and duplicates nothing:

    * before 2: only a temp file exists. It is deleted when the next Spool opens (its owner is
      dead), nothing was acknowledged, the sender retries and the retry stores it.
    * between 2 and 3: the file is in incoming/ but not in the index, and was not acknowledged.
      The next Spool adopts every indexed-less file it finds in incoming/ or claimed/ into the
      index (so the pipeline processes it once), and the sender's retry is then answered Success
      as a duplicate without a second copy. The file name is the SOP Instance UID, so even a
      retry that races the adoption can only replace the file with itself.
    * between 3 and 4: stored and indexed but not acknowledged; the retry is a duplicate -> Success.

The other order (index first) would lose data: a crash after the insert but before the rename
leaves the UID "seen" with no file, and the retry would be acknowledged as a duplicate of an
instance that does not exist. claim() and complete() also adopt unindexed files before they move
or delete them, so an instance cannot be processed, deleted and later re-stored as new.

Concurrency: the steps 2-3 critical section, claim/release/complete and the listings hold one
lock (a threading lock plus an flock on .lock, so a pipeline in another process that opens its
own Spool is serialised too). Step 1, the large write, runs outside it. Partial writes live in a
per-Spool tmp/<owner>/ folder whose owner holds an flock for its lifetime, so opening a second
Spool never deletes a live writer's temp files.

A late instance of a study that was already claimed starts a new incoming/<study>/ folder and
becomes ready again after the quiet period; the pipeline sees it as a follow-up batch. A study
cannot be claimed again while claimed/<study>/ exists (StudyAlreadyClaimed): complete or release
the first batch first. ready_studies() leaves such studies out until then.

Modules (each one concept; the names below are importable from here):

    records.py     StoreOutcome, StoreResult, ReadyStudy, ClaimedStudy, QuarantineRecord
    files.py       encode_file_meta, instance_header, fsync_dir, write_temp (step 1), publish
                   (step 2), file naming
    receiving.py   ReceivingFile: step 1 written as the data set arrives (store_received)
    index.py       SpoolIndex: index.sqlite3 on common.sqlite.Database (step 3, crash adoption)
    scratch.py     Scratch: the flock-owned tmp/<owner>/ folder of one Spool, orphan removal
    quarantine.py  write_quarantine: refused payload + reason file
    spool.py       Spool: the facade (store, open_receiving, store_received, ready_studies, claim,
                   claimed_studies, release, complete, prune_index, quarantine) and the lock;
                   recovery at open
"""

from dicom_listener.spool.files import SUFFIX, encode_file_meta, fsync_dir, instance_header
from dicom_listener.spool.receiving import ReceivingFile
from dicom_listener.spool.records import (
    ClaimedStudy,
    QuarantineRecord,
    ReadyStudy,
    StoreOutcome,
    StoreResult,
)
from dicom_listener.spool.spool import (
    CLAIMED,
    INCOMING,
    INDEX_FILE,
    LOCK_FILE,
    QUARANTINE,
    TMP,
    Spool,
)

__all__ = [
    "CLAIMED",
    "INCOMING",
    "INDEX_FILE",
    "LOCK_FILE",
    "QUARANTINE",
    "SUFFIX",
    "TMP",
    "ClaimedStudy",
    "QuarantineRecord",
    "ReadyStudy",
    "ReceivingFile",
    "Spool",
    "StoreOutcome",
    "StoreResult",
    "encode_file_meta",
    "fsync_dir",
    "instance_header",
]
