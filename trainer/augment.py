"""Random augmentation for radiographs, applied on top of the shared preprocessing, train only.

What and why:
- small rotation (+-8 deg), shift (+-6 %) and zoom (+-10 %): patient positioning varies;
- brightness, contrast, gamma and noise: exposure and detector differences between sites;
- random down-and-up sampling: part of the data (RSNA normals) is 224 px only, so sharpness
  would otherwise identify the class;
- random burned-in text and arrows: COVID images are often journal figures with annotations, so
  the model must not learn "letters on the film -> COVID";
- random black or white bars on the edges: some sources are cropped or padded, others are not;
- no horizontal flip: laterality is anatomy (heart on the left); a flipped film is not a film the
  model will meet, and laterality markers would be mirrored.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def overlay_bank(size: int, count: int = 96, seed: int = 7) -> np.ndarray:
    """Masks of random letters, digits and arrows, as hospitals and journals burn them in."""
    rng = np.random.default_rng(seed)
    bank = np.zeros((count, size, size), dtype=np.float32)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    fonts = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_PLAIN)
    for mask in bank:
        for _ in range(int(rng.integers(1, 4))):
            text = "".join(rng.choice(list(alphabet), size=int(rng.integers(1, 8))))
            origin = (int(rng.integers(0, size * 3 // 4)), int(rng.integers(size // 10, size)))
            scale = float(rng.uniform(0.25, 0.8)) * size / 224
            cv2.putText(
                mask,
                text,
                origin,
                fonts[int(rng.integers(len(fonts)))],
                scale,
                1.0,
                int(rng.integers(1, 3)),
                cv2.LINE_AA,
            )
        if rng.random() < 0.4:
            start = rng.integers(size // 5, size * 4 // 5, size=2)
            end = start + rng.integers(-size // 6, size // 6, size=2)
            cv2.arrowedLine(mask, tuple(int(v) for v in start), tuple(int(v) for v in end), 1.0, 2)
    return bank


def make_augmenter(size: int, seed: int):
    """Return a batched TensorFlow function (images (B, H, W, 1) in [0, 1]) -> augmented images."""
    import tensorflow as tf

    bank = tf.constant(overlay_bank(size, seed=seed)[..., None])
    generator = tf.random.Generator.from_seed(seed)

    def geometric(images):
        batch = tf.shape(images)[0]
        angle = generator.uniform([batch], -8.0, 8.0) * (math.pi / 180.0)
        zoom = generator.uniform([batch], 0.9, 1.1)
        shift = generator.uniform([batch, 2], -0.06, 0.06) * float(size)
        centre = (float(size) - 1.0) / 2.0
        cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
        # output -> input mapping, rotation and zoom about the centre, then shift
        tx = centre - cos * centre + sin * centre - shift[:, 0]
        ty = centre - sin * centre - cos * centre - shift[:, 1]
        zeros = tf.zeros_like(cos)
        transforms = tf.stack([cos, -sin, tx, sin, cos, ty, zeros, zeros], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=[size, size],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )

    def degrade_resolution(images):
        batch = tf.shape(images)[0]
        scale = generator.uniform([], 0.3, 1.0)
        small = tf.cast(tf.round(scale * size), tf.int32)
        blurred = tf.image.resize(tf.image.resize(images, [small, small], "area"), [size, size], "bilinear")
        pick = tf.reshape(generator.uniform([batch]) < 0.5, [-1, 1, 1, 1])
        return tf.where(pick, blurred, images)

    def burn_in(images):
        batch = tf.shape(images)[0]
        masks = tf.gather(bank, generator.uniform([batch], 0, bank.shape[0], dtype=tf.int32))
        level = generator.uniform([batch, 1, 1, 1], 0.7, 1.0)
        pick = tf.cast(generator.uniform([batch, 1, 1, 1]) < 0.3, images.dtype)
        return tf.maximum(images, masks * level * pick)

    def photometric(images):
        batch = tf.shape(images)[0]
        gamma = tf.exp(generator.uniform([batch, 1, 1, 1], math.log(0.7), math.log(1.4)))
        images = tf.pow(tf.clip_by_value(images, 1e-6, 1.0), gamma)
        contrast = generator.uniform([batch, 1, 1, 1], 0.75, 1.25)
        mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
        images = (images - mean) * contrast + mean + generator.uniform([batch, 1, 1, 1], -0.1, 0.1)
        noise = generator.normal(tf.shape(images)) * generator.uniform([batch, 1, 1, 1], 0.0, 0.03)
        return tf.clip_by_value(images + noise, 0.0, 1.0)

    def edge_bars(images):
        batch = tf.shape(images)[0]
        coords = tf.cast(tf.range(size), tf.float32) / float(size)
        on = tf.cast(generator.uniform([batch, 4]) < 0.25, tf.float32)
        top, bottom, left, right = tf.unstack(
            tf.reshape(generator.uniform([batch, 4], 0.0, 0.08) * on, [-1, 4, 1, 1, 1]), axis=1
        )
        rows, cols = coords[None, :, None, None], coords[None, None, :, None]
        bar = (rows < top) | (rows > 1.0 - bottom) | (cols < left) | (cols > 1.0 - right)
        white = tf.cast(generator.uniform([batch, 1, 1, 1]) >= 0.7, tf.float32)
        return tf.where(bar, white * tf.ones_like(images), images)

    def augment(images):
        images = tf.cast(images, tf.float32)
        return edge_bars(photometric(burn_in(degrade_resolution(geometric(images)))))

    return augment
