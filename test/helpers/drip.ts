// A webhook receiver that answers its first request with a status line and then one byte every
// 2 s, never completing it (and never idle long enough for an idle timeout), and answers later
// requests at once: what a delivery deadline must end.
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";

export interface DrippingWebhook {
  url: string;
  /** Resolves when the first request arrived (a notify run is delivering). */
  delivering: Promise<void>;
  /** For each request, whether the first one's connection had been closed when it arrived. */
  requests: boolean[];
}

export async function drippingWebhook(t: TestContext): Promise<DrippingWebhook> {
  const requests: boolean[] = [];
  let firstClosed = false;
  let arrived: () => void = () => {};
  const delivering = new Promise<void>((r) => {
    arrived = r;
  });
  const server = http.createServer((req, res) => {
    req.resume();
    requests.push(firstClosed);
    if (requests.length > 1) return res.end("ok");
    res.writeHead(200, { "Content-Type": "text/plain" });
    const drip = setInterval(() => res.write("."), 2000);
    res.on("close", () => {
      clearInterval(drip);
      firstClosed = true;
    });
    arrived();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, delivering, requests };
}
