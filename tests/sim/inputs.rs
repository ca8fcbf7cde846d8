//! Bad inputs get ARM error envelopes with ARM's statuses: never a panic or a hang.
