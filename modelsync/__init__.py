"""modelsync"""
