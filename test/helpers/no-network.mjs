// Preloaded with `node --import` into a child process under test: any attempt to reach the network throws.
import dns from 'node:dns';
import net from 'node:net';

const refuse = () => {
  throw new Error('network access refused by test/helpers/no-network.mjs');
};
globalThis.fetch = async () => refuse();
net.Socket.prototype.connect = refuse;
dns.lookup = refuse;
dns.promises.lookup = async () => refuse();
