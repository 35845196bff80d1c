// A fungible token (MiniLedger 0.2's built-in transfer contract, stricter on amounts).
// State: "balance:<publicKey>" -> integer.
return {
  mint(ctx, amount) {
    if (!Number.isSafeInteger(amount) || amount <= 0) throw new Error("invalid amount");
    const key = "balance:" + ctx.sender;
    const balance = (ctx.get(key) || 0) + amount;
    if (!Number.isSafeInteger(balance)) throw new Error("supply overflow");
    ctx.set(key, balance);
    ctx.log("minted " + amount + " to " + ctx.sender);
    return balance;
  },

  transfer(ctx, to, amount) {
    if (!Number.isSafeInteger(amount) || amount <= 0) throw new Error("invalid amount");
    if (typeof to !== "string" || to.length === 0) throw new Error("recipient required");
    const fromKey = "balance:" + ctx.sender;
    const toKey = "balance:" + to;
    const from = ctx.get(fromKey) || 0;
    if (from < amount) throw new Error("insufficient balance");
    ctx.set(fromKey, from - amount);
    ctx.set(toKey, (ctx.get(toKey) || 0) + amount);
    ctx.log("transfer " + amount + " from " + ctx.sender + " to " + to);
  },

  balance(ctx, address) {
    return ctx.get("balance:" + (address || ctx.sender)) || 0;
  }
}
