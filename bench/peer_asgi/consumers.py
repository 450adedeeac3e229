"""Django Channels' consumers for the benchmark: echo at /echo/, group broadcast at /bcast/.

Asynchronous consumers (``AsyncWebsocketConsumer``): Channels' tutorial rewrites
its chat consumer as asynchronous because async consumers "can provide a higher
level of performance since they don't need to create additional threads when
handling requests"; these consumers do no blocking work, so that is the fast choice.
"""

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

GROUP = "bench"


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)


class BroadcastConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def bench_message(self, event: dict[str, Any]) -> None:
        """``group_send("bench", {"type": "bench.message", "text": ...})`` lands here."""
        await self.send(text_data=event["text"])
