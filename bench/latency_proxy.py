"""A TCP proxy that adds a fixed delay to every chunk in each direction (stdlib asyncio only).

Put it in front of a database to see what a distant server costs a client:

    python bench/latency_proxy.py --target 127.0.0.1:5432 --delay-ms 5 [--listen 127.0.0.1:0]

It prints `listening HOST:PORT` once ready and runs until SIGINT/SIGTERM. A query round trip
through it costs at least 2 x delay more than a direct one. Chunks keep their order and are not
throttled: each is released `delay` after it arrived, however many are in flight.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    async def release() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    releaser = asyncio.create_task(release())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
    except ConnectionError:
        pass
    queue.put_nowait((loop.time() + delay, None))
    try:
        await releaser
    except ConnectionError:
        pass


async def serve(listen_host: str, listen_port: int, target_host: str, target_port: int, delay: float):
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(_pump(client_reader, server_writer, delay),
                                 _pump(server_reader, client_writer, delay))
        except asyncio.CancelledError:  # the proxy is shutting down with this connection open
            pass

    return await asyncio.start_server(handle, listen_host, listen_port)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


async def _main(args) -> None:
    server = await serve(*args.listen, *args.target, args.delay_ms / 1000)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening {host}:{port}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=_address, required=True, help="HOST:PORT to forward to")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 0), help="HOST:PORT (port 0: any free)")
    parser.add_argument("--delay-ms", type=float, default=5.0, help="added to each direction (default 5)")
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must be >= 0")
    asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
