"""The band's parts: each turns bar plans, the harmony and a window of ticks into events."""
