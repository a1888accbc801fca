//! The tf56 module (in progress).
