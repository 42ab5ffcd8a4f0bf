// Registers an lwm2m-node-lib 1.4.0 client with the "server" at 127.0.0.1:<port> so that a
// test can capture the Register request it sends. Usage: node node_register.js <port> <uri>...
'use strict';
const path = require('path');
const lib = require(path.join(__dirname, '..', '..', 'peers', 'node_modules', 'lwm2m-node-lib'));
const client = lib.client;
const port = Number(process.argv[2]);
const uris = process.argv.slice(3);

client.init({
  client: { lifetime: '300', version: '1.0', logLevel: 'FATAL', ipProtocol: 'udp4' },
  logLevel: 'FATAL',
});

let pending = uris.length;
for (const uri of uris) {
  client.registry.create(uri, (error) => {
    if (error) {
      console.error('create failed', uri, error);
      process.exit(2);
    }
    pending -= 1;
    if (pending === 0) {
      console.log('registering');
      client.register('127.0.0.1', port, null, 'node-ep', () => {});
    }
  });
}
