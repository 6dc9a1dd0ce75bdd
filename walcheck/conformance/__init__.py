"""Black-box conformance: a port driven through the driver protocol
(spec/porting.md) and compared with the model, by generated traces
(``walcheck conform``) or by the fixed vectors of spec/vectors
(``walcheck vectors``). Imports no reference: a port is checked from outside."""
