"""The pure scoring core: codecs, validation, reference data, features, model, pipeline,
dead letters. No Kafka client and no driver: the stream, batch and serve drivers all call it."""
