"""Support shared by the tests and the benchmarks, kept out of the product packages:
`harness` (namespaces, veths, a switch process and a P4Runtime client for packet tests) and
`corpus` (the BMv2 reference corpus as softswitch.api objects)."""
