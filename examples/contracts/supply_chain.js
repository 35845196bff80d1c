// Tracks products from creation through waypoints to delivery (MiniLedger 0.2's example).
// State: "product:<id>" -> {id, name, origin, owner, status, history: [...]}.
return {
  createProduct(ctx, id, name, origin) {
    const key = "product:" + id;
    if (ctx.get(key)) throw new Error("product already exists: " + id);
    ctx.set(key, {
      id: id,
      name: name,
      origin: origin,
      owner: ctx.sender,
      status: "created",
      history: [{ action: "created", by: ctx.sender, location: origin, timestamp: ctx.timestamp }]
    });
    ctx.log("product created: " + name);
  },

  updateLocation(ctx, id, location, notes) {
    const key = "product:" + id;
    const product = ctx.get(key);
    if (!product) throw new Error("product not found: " + id);
    if (product.owner !== ctx.sender) throw new Error("not the owner");
    if (product.status === "delivered") throw new Error("already delivered");
    product.history.push({ action: "location_update", by: ctx.sender, location: location, notes: notes || "", timestamp: ctx.timestamp });
    product.status = "in_transit";
    ctx.set(key, product);
    ctx.log("location updated for " + id + ": " + location);
  },

  transferOwnership(ctx, id, newOwner) {
    const key = "product:" + id;
    const product = ctx.get(key);
    if (!product) throw new Error("product not found: " + id);
    if (product.owner !== ctx.sender) throw new Error("not the owner");
    product.history.push({ action: "ownership_transfer", by: ctx.sender, from: product.owner, to: newOwner, timestamp: ctx.timestamp });
    product.owner = newOwner;
    ctx.set(key, product);
    ctx.log("ownership transferred: " + ctx.sender + " -> " + newOwner);
  },

  markDelivered(ctx, id) {
    const key = "product:" + id;
    const product = ctx.get(key);
    if (!product) throw new Error("product not found: " + id);
    if (product.owner !== ctx.sender) throw new Error("not the owner");
    product.status = "delivered";
    product.history.push({ action: "delivered", by: ctx.sender, timestamp: ctx.timestamp });
    ctx.set(key, product);
    ctx.log("product delivered: " + id);
  },

  getProduct(ctx, id) {
    return ctx.get("product:" + id);
  }
}
