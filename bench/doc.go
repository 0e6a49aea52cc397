// Package bench measures billrelay against bare JetStream on the same
// machine in one run, so that its figures are ratios, not absolute claims:
// HTTP ingest (single events and batches), end-to-end delivery to resellers
// sharing an account, and the same store/deliver/ack work done with plain
// nats.go as the reference. "billrelay bench" runs it.
package bench
