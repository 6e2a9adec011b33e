"""Card history features, version ``card-history-v1``: the definition (the contract).

Every face (training, batch, the Kafka stream with its RocksDB or Redis state, the HTTP
API) computes these features with the same code, ``consumer.scoring.history.compute``,
and gets bit-identical results whoever calls it and however the events are split into
batches. ``tests/oracle/card_history.py`` writes this text out one event at a time; the
kernel (``_kernel.pyx``) must equal it bit for bit.

Inputs, per event
-----------------
- ``slot``: which card state the event reads and updates (usually one slot per card).
- ``event_time``: int64, epoch milliseconds.
- ``amount_usd``: float64; NaN when the currency has no USD rate.
- ``merchant``: uint64 hash of merchant_id.
- ``country``: uint64 hash of merchant_country.
- ``device``: uint64 hash of device_id, 0 when absent.
- ``txid``: uint64 hash of transaction_id.

Hashes: 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over the
UTF-8 bytes of the string, lone surrogates encoded as Python's "surrogatepass" does; a
hash of 0 is mapped to 1, so that 0 means "absent" (None hashes to 0).

State
-----
A card's state is the list, in input order, of its retained earlier events; each entry
is (event_time int64, amount_usd float64, merchant u64, country u64, device u64,
txid u64): 48 bytes. It is serialised as the raw bytes of a packed little-endian numpy
structured array, and nothing else: empty bytes = no history. A blob whose length is not
a multiple of 48 is refused (``CardStateError``).

Features
--------
For an event at time t with transaction id x, the windows W in {1 h, 24 h, 7 d} cover the
retained entries e with t - W < e.time <= t and e.txid != x. So an entry exactly W old is
out; an entry at exactly t is in; an entry with e.time > t (a later event that arrived
earlier) is out; an entry whose txid equals the current event's txid is never in any
window (a transaction id seen twice counts once; the current event is never in its own
window). In features 1-15, "retained entries" means those whose txid is not x.

Features, in this order (``HISTORY_FEATURE_NAMES``):

1-3   card_count_1h, card_count_24h, card_count_7d: the number of entries in the window.
4-6   card_amount_usd_1h, card_amount_usd_24h, card_amount_usd_7d: the sum of amount_usd
      of the window's entries, added in input (state) order starting from 0.0, NaN
      amounts skipped (0.0 when the window is empty).
7-9   card_merchants_1h, card_merchants_24h, card_merchants_7d: the number of distinct
      merchant hashes in the window.
10-11 card_countries_24h, card_countries_7d: the number of distinct country hashes.
12    card_seconds_since_prev: (t - m) / 1000.0 where m is the largest e.time over the
      retained entries with e.time <= t (in any window or none); NaN if there is none.
13    card_new_device_7d: NaN if the current event has no device (0) or the 7 d window
      is empty; 1.0 if no 7 d entry has this device; else 0.0.
14    card_new_country_7d: NaN if the 7 d window is empty; 1.0 if no 7 d entry has this
      country; else 0.0.
15    card_amount_to_median_7d: amount_usd / median of the non-NaN amount_usd of the 7 d
      window's entries; NaN if the current amount is NaN, there is no such entry, or the
      median is 0. The median is the middle value of the sorted amounts, or (a + b) * 0.5
      of the two middle ones a <= b for an even count (what numpy.median gives).

Counts are float64 like every feature. Arithmetic is IEEE-754 double, one operation at a
time, no fused multiply-add: (t - m) is exact in integers and then converted (correctly
rounded) to float64 before the division.

Applying the event
------------------
After its features are computed, the event is applied to its slot:

1. If an entry with txid x is retained, the event is a duplicate and is not applied: the
   state stays exactly as it was (no append, no pruning).
2. Otherwise it is appended (last in input order).
3. newest = the largest event_time among the retained entries and the new event. Entries
   with e.time <= newest - 7 d are dropped (no separate header stores newest: it is
   derived from what is retained, so after the cap has dropped the newest-in-time entry
   newest can go down).
4. If more than CAP = 256 entries remain, the oldest in input order are dropped until 256
   remain.

What follows:
- Events of the same slot in one batch see each other, in input order; splitting the
  events into batches (state carried as bytes in between) changes nothing.
- A late event (event_time <= newest - 7 d) gets its features from whatever is retained,
  then is appended and at once dropped by step 3: it leaves no trace, and a later copy of
  its txid is not recognised as a duplicate.
- Duplicates are recognised only against retained entries: once the first copy has been
  dropped (7 d or the cap), a copy is applied again as a new event.
- A card past the cap (more than 256 events within 7 d) keeps its 256 most recently
  applied events: its counts and sums stop growing at 256 entries and describe those.
- Later events that arrived earlier (e.time > t) are retained but outside the event's
  windows, and do not count for card_seconds_since_prev.
- A state handed in with more than 256 entries, or with entries older than newest - 7 d,
  is used as it is for features and cut to the rules at the next applied event.
"""

from __future__ import annotations

from typing import Final

HISTORY_FEATURE_SET: Final = "card-history-v1"

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS
WEEK_MS: Final = 7 * DAY_MS
WINDOWS_MS: Final = (HOUR_MS, DAY_MS, WEEK_MS)
"""The window lengths in milliseconds: 1 h, 24 h, 7 d; the longest is also the retention."""
CAP: Final = 256
"""The most entries a state keeps after an event is applied."""
ENTRY_BYTES: Final = 48

HISTORY_FEATURE_NAMES: Final = (
    "card_count_1h",
    "card_count_24h",
    "card_count_7d",
    "card_amount_usd_1h",
    "card_amount_usd_24h",
    "card_amount_usd_7d",
    "card_merchants_1h",
    "card_merchants_24h",
    "card_merchants_7d",
    "card_countries_24h",
    "card_countries_7d",
    "card_seconds_since_prev",
    "card_new_device_7d",
    "card_new_country_7d",
    "card_amount_to_median_7d",
)

FNV_OFFSET: Final = 0xCBF29CE484222325
FNV_PRIME: Final = 0x100000001B3


def fnv1a64(text: str) -> int:
    """The 64-bit FNV-1a hash of ``text``'s UTF-8 bytes (surrogatepass), 0 mapped to 1.

    The slow definition; ``hash_strings`` is the fast one for whole columns."""
    h = FNV_OFFSET
    for byte in text.encode("utf-8", "surrogatepass"):
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h or 1
