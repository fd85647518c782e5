"""The asyncio documentation's echo server protocol, kept open (it echoes
every byte until the client closes) so it can be loaded: run with the
standard asyncio loop, or with uvloop (`--uvloop`).

    python3 benches/peers/asyncio_echo.py [PORT] [--uvloop]   (default 7004)
"""
import asyncio
import sys


class EchoServerProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoServerProtocol, "127.0.0.1", port)
    print("asyncio-echo on", server.sockets[0].getsockname(), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    port = int(args[0]) if args else 7004
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.install()
    asyncio.run(main(port))
