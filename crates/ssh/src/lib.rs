//! SSH transport on russh: one authenticated connection per host, many channels over it.
