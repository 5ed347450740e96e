/** Index records of server certificates carry this prefix, which no partner id can have. */
export const SERVER_PREFIX = "server:";
